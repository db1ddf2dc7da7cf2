package dev.ppsd.tools.cli;

import static dev.ppsd.tools.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.model.TinyModels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ppsd generate} on a tiny random model: the documented JSON fields, seeds, JSONL prompts and modes. */
class GenerateCommandTest {
    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void tinyModel() throws IOException {
        model = TinyModels.writeChatTemplate(TinyModels.write(dir.resolve("tiny"), TinyModels.config(2, 512), 42),
                TinyModels.CHAT_TEMPLATE);
    }

    /** Runs {@code generate --model tiny args...} and parses one JSON object per stdout line. */
    private static List<JsonObject> generate(String... args) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString()));
        a.addAll(List.of(args));
        CliHarness.Run r = run(a.toArray(String[]::new)).ok();
        assertEquals("", r.err());
        List<JsonObject> out = new ArrayList<>();
        for (String line : r.out().split("\\R")) {
            if (!line.isBlank()) {
                out.add(JsonParser.parseString(line).getAsJsonObject());
            }
        }
        return out;
    }

    private static Path prompts(String name, String... lines) throws IOException {
        return Files.write(dir.resolve(name), List.of(lines));
    }

    @Test
    void printsTheDocumentedFields() {
        assertEquals("ppsd", generate("--prompt", "In", "--max-new-tokens", "2").get(0).get("mode").getAsString(),
                "ppsd is the default mode");
        List<JsonObject> results = generate("--prompt", "In the beginning", "--max-new-tokens", "5", "--mode", "ar");
        assertEquals(1, results.size());
        JsonObject o = results.get(0);
        for (String f : List.of("id", "mode", "text", "token_ids", "prompt_token_ids", "finish_reason",
                "prompt_tokens", "new_tokens", "tokens_per_s", "wall_ms", "ttft_ms", "drafts_proposed",
                "drafts_accepted",
                "acceptance", "cycles", "flushes", "stage_busy_ms", "stage_idle_ms")) {
            assertTrue(o.has(f), "missing field " + f + " in " + o);
        }
        assertFalse(o.has("error"), o.toString());
        assertEquals("0", o.get("id").getAsString());
        assertEquals("ar", o.get("mode").getAsString());
        JsonArray prompt = o.getAsJsonArray("prompt_token_ids");
        assertEquals(0, prompt.get(0).getAsInt(), "prompt starts with BOS id 0: " + prompt);
        assertEquals(prompt.size(), o.get("prompt_tokens").getAsInt());
        JsonArray gen = o.getAsJsonArray("token_ids");
        int n = o.get("new_tokens").getAsInt();
        assertEquals(gen.size(), n);
        assertTrue(n >= 1 && n <= 5, "new_tokens " + n);
        String finish = o.get("finish_reason").getAsString();
        assertTrue(Set.of("eos", "stop", "length").contains(finish), finish);
        boolean endsInEos = gen.get(n - 1).getAsInt() == 1;
        assertEquals(endsInEos ? "eos" : "length", finish, "token_ids " + gen);
        if (finish.equals("length")) {
            assertEquals(5, n);
        }
        assertTrue(o.get("tokens_per_s").getAsDouble() >= 0);
        assertTrue(o.get("wall_ms").getAsDouble() >= 0);
        double first = o.get("ttft_ms").getAsDouble();
        assertTrue(first > 0 && first <= o.get("wall_ms").getAsDouble(), o.toString());
        // ar does not speculate
        assertEquals(0, o.get("drafts_proposed").getAsInt());
        assertEquals(0, o.get("drafts_accepted").getAsInt());
        assertTrue(o.get("acceptance").isJsonNull(), o.toString());
    }

    @Test
    void sameSeedSameSampleOtherSeedOtherSample() {
        String[] common = {"--prompt", "The quick brown", "--max-new-tokens", "16", "--temperature", "0.9"};
        JsonObject a = generate(concat(common, "--seed", "7")).get(0);
        JsonObject b = generate(concat(common, "--seed", "7")).get(0);
        JsonObject c = generate(concat(common, "--seed", "8")).get(0);
        assertEquals(a.get("token_ids"), b.get("token_ids"));
        assertEquals(a.get("text"), b.get("text"));
        assertNotEquals(a.get("token_ids"), c.get("token_ids"), "16 tokens sampled at T=0.9 from a random model");
    }

    @Test
    void promptsFileKeepsIdsAndOrderAndUsesSeedPlusLine() throws IOException {
        Path f = prompts("ids.jsonl",
                "{\"id\": \"first\", \"prompt\": \"In the beginning\"}",
                "",
                "{\"prompt\": \"for (int i = 0\"}",
                "{\"id\": 17, \"prompt\": \"And God said\"}");
        List<JsonObject> r = generate("--prompts", f.toString(), "--max-new-tokens", "8", "--temperature", "0.9",
                "--seed", "5");
        assertEquals(List.of("first", "1", "17"), r.stream().map(o -> o.get("id").getAsString()).toList());
        // the prompt at index 1 was sampled with seed 5 + 1
        JsonObject alone = generate("--prompt", "for (int i = 0", "--max-new-tokens", "8", "--temperature", "0.9",
                "--seed", "6").get(0);
        assertEquals(alone.get("token_ids"), r.get(1).get("token_ids"));
    }

    @Test
    void badPromptsFilesNameFileAndLine() throws IOException {
        Path notJson = prompts("bad.jsonl", "{\"prompt\": \"In the\"}", "this is not json");
        run("generate", "--model", model.toString(), "--prompts", notJson.toString())
                .fails(notJson + ":2: not a JSON object");
        Path array = prompts("array.jsonl", "[\"In the\"]");
        run("generate", "--model", model.toString(), "--prompts", array.toString())
                .fails(array + ":1: not a JSON object");
        Path noPrompt = prompts("noprompt.jsonl", "{\"id\": \"x\"}");
        run("generate", "--model", model.toString(), "--prompts", noPrompt.toString())
                .fails(noPrompt + ":1: give a string field \"prompt\" or an array \"messages\" of {\"role\", \"content\"}");
        Path none = prompts("none.jsonl", "", "  ");
        run("generate", "--model", model.toString(), "--prompts", none.toString()).fails(none + ": no prompts in file");
    }

    @Test
    void speculativeModesMatchArGreedy() throws IOException {
        Path f = prompts("modes.jsonl",
                "{\"prompt\": \"In the beginning God\"}",
                "{\"prompt\": \"public static int add(int a\"}",
                "{\"prompt\": \"The quick\"}");
        List<JsonElement> ar = generate("--prompts", f.toString(), "--max-new-tokens", "12").stream()
                .map(o -> o.get("token_ids")).toList();
        for (String mode : List.of("ppsd", "eesd", "ar-pipe")) {
            List<JsonObject> r = generate("--prompts", f.toString(), "--max-new-tokens", "12", "--mode", mode);
            assertEquals(ar, r.stream().map(o -> o.get("token_ids")).toList(), mode);
            assertEquals(mode, r.get(0).get("mode").getAsString());
        }
        List<JsonObject> eesd = generate("--prompts", f.toString(), "--max-new-tokens", "12", "--mode", "eesd",
                "--gamma", "2", "--exit-layer", "1");
        assertTrue(eesd.stream().mapToInt(o -> o.get("drafts_proposed").getAsInt()).sum() > 0);
        assertEquals(ar, eesd.stream().map(o -> o.get("token_ids")).toList());
    }

    @Test
    void aPromptLongerThanTheContextFailsAlone() throws IOException {
        // bytes the tiny tokenizer never merged: one token each, 600 > max_position_embeddings 512
        String tooLong = "~^|".repeat(200);
        Path f = prompts("long.jsonl",
                "{\"id\": \"a\", \"prompt\": \"In the\"}",
                "{\"id\": \"b\", \"prompt\": \"" + tooLong + "\"}",
                "{\"id\": \"c\", \"prompt\": \"And God\"}");
        List<JsonObject> r = generate("--prompts", f.toString(), "--max-new-tokens", "4");
        assertEquals(List.of("a", "b", "c"), r.stream().map(o -> o.get("id").getAsString()).toList());
        String err = r.get(1).get("error").getAsString();
        assertTrue(err.contains("max_position_embeddings"), err);
        assertFalse(r.get(1).has("text"));
        for (JsonObject o : List.of(r.get(0), r.get(2))) {
            assertFalse(o.has("error"), o.toString());
            assertTrue(o.get("new_tokens").getAsInt() >= 1, o.toString());
        }
    }

    @Test
    void aLineWithMessagesIsRenderedByTheChatTemplate() throws IOException {
        Path f = prompts("chat.jsonl",
                "{\"id\": \"c\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
                        + " {\"role\": \"user\", \"content\": \"In the beginning\"}]}",
                "{\"id\": \"p\", \"prompt\": \"<|system|>Be brief.</s><|user|>In the beginning</s><|assistant|>\"}",
                "{\"id\": \"bad\", \"messages\": [{\"role\": \"narrator\", \"content\": \"x\"}]}");
        List<JsonObject> r = generate("--prompts", f.toString(), "--max-new-tokens", "3");
        JsonArray chat = r.get(0).getAsJsonArray("prompt_token_ids");
        JsonArray prompt = r.get(1).getAsJsonArray("prompt_token_ids");
        // the rendered chat, without the BOS the tokenizer adds to a prompt
        assertEquals(prompt.size() - 1, chat.size());
        for (int i = 0; i < chat.size(); i++) {
            assertEquals(prompt.get(i + 1), chat.get(i));
        }
        assertEquals("unknown role narrator", r.get(2).get("error").getAsString());
        run("generate", "--model", model.toString(), "--prompts", prompts("bad-chat.jsonl",
                "{\"messages\": [{\"role\": \"user\"}]}").toString())
                .fails(":1: messages[0] must be {\"role\": string, \"content\": string}");
    }

    @Test
    void stopStringEndsTheTextBeforeIt() {
        JsonObject full = generate("--prompt", "In the beginning", "--max-new-tokens", "24").get(0);
        String text = full.get("text").getAsString();
        // the tiny model's tokenizer has one token per byte: stop at the first printable ASCII character after the start
        int at = 1;
        while (at < text.length() && (text.charAt(at) <= ' ' || text.charAt(at) > '~')) {
            at++;
        }
        assertTrue(at < text.length(), "24 random bytes without a printable ASCII one: " + text);
        String stop = String.valueOf(text.charAt(at));
        JsonObject cut = generate("--prompt", "In the beginning", "--max-new-tokens", "24", "--stop", stop).get(0);
        assertEquals("stop", cut.get("finish_reason").getAsString(), cut.toString());
        assertEquals(text.substring(0, text.indexOf(stop)), cut.get("text").getAsString());
    }

    private static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }

    @Test
    void samplesLogprobsAndStopTokensAreReportedPerLine() {
        List<JsonObject> out = generate("--prompt", "In the beginning", "--max-new-tokens", "6", "--n", "3",
                "--temperature", "0.9", "--seed", "5", "--logprobs", "2", "--prompt-logprobs", "1",
                "--stop-token-ids", "300,301,302");
        assertEquals(3, out.size(), "one line per sample");
        for (int j = 0; j < 3; j++) {
            JsonObject o = out.get(j);
            assertEquals(j, o.get("sample_index").getAsInt());
            assertEquals("0", o.get("id").getAsString());
            JsonArray lp = o.getAsJsonArray("token_logprobs");
            assertEquals(o.get("new_tokens").getAsInt(), lp.size());
            for (JsonElement e : lp) {
                JsonObject t = e.getAsJsonObject();
                assertTrue(t.get("logprob").getAsDouble() <= 0, t.toString());
                assertEquals(2, t.getAsJsonArray("top_logprobs").size());
            }
            JsonArray gen = o.getAsJsonArray("token_ids");
            int last = gen.get(gen.size() - 1).getAsInt();
            if (o.get("finish_reason").getAsString().equals("stop")) {
                assertEquals(last, o.get("stop_reason").getAsInt(), o.toString());
            }
            assertEquals(o.get("prompt_tokens").getAsInt() - 1, o.getAsJsonArray("prompt_token_logprobs").size());
        }
        assertEquals(out.get(0).getAsJsonArray("prompt_token_logprobs"), out.get(2).getAsJsonArray("prompt_token_logprobs"));
        assertNotEquals(out.get(0).get("text"), out.get(1).get("text"));
    }
}
