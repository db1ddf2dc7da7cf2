package dev.ppsd.engine.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.checkpoint.ModelLoadException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@link ChatTemplate} rejects and how: an empty chat, a role the template refuses ({@code raise_exception},
 * with the template's own message, as the oracle reports it), a model folder without a template, a template that
 * does not parse; and how it finds the template and its variables ({@code chat_template} lists, AddedToken
 * special tokens, {@code chat_template.jinja}). Tests that compare with the Node oracle skip without it.
 */
class ChatTemplateErrorsTest {
    /** A template in the style of Mistral's: only user and assistant, alternating, or raise_exception. */
    static final String STRICT = "{{ bos_token }}{% for message in messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
            + "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
            + "{% else %}{{ raise_exception('Only user and assistant roles are supported, not ' + message['role']) }}"
            + "{% endif %}{% endfor %}";

    @TempDir
    Path tmp;

    private Path model(String name, JsonObject tokenizerConfig) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        if (tokenizerConfig != null) {
            Files.writeString(dir.resolve("tokenizer_config.json"), tokenizerConfig.toString());
        }
        return dir;
    }

    private static JsonObject config(String template) {
        JsonObject c = new JsonObject();
        c.addProperty("bos_token", "<s>");
        c.addProperty("eos_token", "</s>");
        if (template != null) {
            c.addProperty("chat_template", template);
        }
        return c;
    }

    @Test
    void emptyChatIsRejected() throws IOException {
        ChatTemplate t = ChatTemplate.load(model("m", config(STRICT)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(List.of(), true));
        assertEquals("messages is empty", e.getMessage());
    }

    @Test
    void nullFieldsAreNamed() {
        assertEquals("ChatMessage role is null",
                assertThrows(IllegalArgumentException.class, () -> new ChatMessage(null, "x")).getMessage());
        assertEquals("ChatMessage content is null",
                assertThrows(IllegalArgumentException.class, () -> new ChatMessage("user", null)).getMessage());
    }

    @Test
    void raiseExceptionBecomesTheTemplatesMessage() throws IOException {
        ChatTemplate t = ChatTemplate.load(model("m", config(STRICT)));
        List<List<ChatMessage>> bad = List.of(
                List.of(ChatMessage.system("s"), ChatMessage.user("u")),
                List.of(ChatMessage.user("a"), ChatMessage.user("b")),
                List.of(ChatMessage.user("a"), new ChatMessage("narrator", "b")));
        List<String> messages = new ArrayList<>();
        for (List<ChatMessage> m : bad) {
            messages.add(assertThrows(IllegalArgumentException.class, () -> t.render(m, true)).getMessage());
        }
        assertEquals(List.of("Conversation roles must alternate user/assistant/user/assistant/...",
                "Conversation roles must alternate user/assistant/user/assistant/...",
                "Only user and assistant roles are supported, not narrator"), messages);
        assertEquals("<s>[INST] a [/INST]b</s>[INST] c [/INST]", t.render(List.of(ChatMessage.user("a"),
                ChatMessage.assistant("b"), ChatMessage.user("c")), true));

        // the oracle rejects the same chats with the same messages
        NodeOracle oracle = NodeOracle.get();
        List<JsonObject> requests = new ArrayList<>();
        for (List<ChatMessage> m : bad) {
            JsonObject r = new JsonObject();
            r.addProperty("op", "render");
            r.addProperty("template", STRICT);
            r.add("context", JsonParser.parseString("{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}"));
            r.add("messages", JsonParser.parseString(ChatCases.json(m)));
            requests.add(r);
        }
        List<String> oracleMessages = oracle.call(requests).stream().map(r -> r.get("error").getAsString()).toList();
        assertEquals(oracleMessages, messages);
    }

    @Test
    void officialTemplatesAcceptAnUnknownRoleAsTheOracleDoes() {
        NodeOracle oracle = NodeOracle.get();
        List<ChatMessage> chat = List.of(ChatMessage.user("a"), new ChatMessage("narrator", "meanwhile"));
        List<JsonObject> requests = new ArrayList<>();
        for (String family : NodeOracle.FAMILIES) {
            requests.add(NodeOracle.chatRequest("render", family, ChatCases.json(chat), true));
        }
        List<JsonObject> expected = oracle.call(requests);
        for (int i = 0; i < NodeOracle.FAMILIES.size(); i++) {
            String family = NodeOracle.FAMILIES.get(i);
            String got = ChatTemplate.load(oracle.tokenizerDir(family)).render(chat, true);
            assertEquals(expected.get(i).get("text").getAsString(), got, family);
        }
    }

    @Test
    void modelWithoutTemplate() throws IOException {
        String expected = "the model has no chat template (tokenizer_config.json has no chat_template); send a prompt"
                + " instead of messages";
        Path noKey = model("no-key", config(null));
        Path noConfig = model("no-config", null);
        for (Path dir : List.of(noKey, noConfig)) {
            assertFalse(ChatTemplate.present(dir), dir.toString());
            assertEquals(expected, assertThrows(IllegalArgumentException.class, () -> ChatTemplate.load(dir))
                    .getMessage());
        }
    }

    @Test
    void templateThatDoesNotParseFailsAtLoadNamingTheFile() throws IOException {
        Path dir = model("m", config("{% for m in messages %}{{ m.content }}"));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> ChatTemplate.load(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer_config.json") + ": chat template does not parse"),
                e.getMessage());
    }

    @Test
    void templateRuntimeErrorIsAnIllegalArgument() throws IOException {
        JsonObject c = config("{{ messages[0].content + undefined_variable }}");
        ChatTemplate t = ChatTemplate.load(model("m", c));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> t.render(List.of(ChatMessage.user("x")), false));
        assertTrue(e.getMessage().startsWith("the chat template of "), e.getMessage());
    }

    @Test
    void namedTemplatesAndAddedTokens() throws IOException {
        JsonObject c = new JsonObject();
        c.add("bos_token", JsonParser.parseString("{\"content\": \"<s>\", \"lstrip\": false, \"special\": true}"));
        c.add("eos_token", JsonParser.parseString("{\"content\": \"</s>\", \"special\": true}"));
        c.add("unk_token", null);
        c.add("chat_template", JsonParser.parseString("[{\"name\": \"tool_use\", \"template\": \"TOOLS\"},"
                + " {\"name\": \"default\", \"template\": \"{{ bos_token }}{{ messages[0].content }}{{ eos_token }}\"}]"));
        Path dir = model("m", c);
        assertTrue(ChatTemplate.present(dir));
        assertEquals("<s>hi</s>", ChatTemplate.load(dir).render(List.of(ChatMessage.user("hi")), false));

        c.add("chat_template", JsonParser.parseString("[{\"name\": \"tool_use\", \"template\": \"TOOLS\"},"
                + " {\"name\": \"rag\", \"template\": \"RAG\"}]"));
        Path noDefault = model("no-default", c);
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> ChatTemplate.load(noDefault));
        assertTrue(e.getMessage().endsWith("chat_template has no template named \"default\" (it has: tool_use, rag)"),
                e.getMessage());
    }

    @Test
    void chatTemplateJinjaFileWins() throws IOException {
        Path dir = model("m", config("from tokenizer_config"));
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ bos_token }}from the .jinja file\n");
        ChatTemplate t = ChatTemplate.load(dir);
        assertEquals(dir.resolve("chat_template.jinja"), t.file());
        assertEquals("<s>from the .jinja file", t.render(List.of(ChatMessage.user("x")), false));
        Path onlyFile = model("only-file", null);
        Files.writeString(onlyFile.resolve("chat_template.jinja"), "x");
        assertTrue(ChatTemplate.present(onlyFile));
    }

    /** The variables a template sees, compared with the oracle given what transformers would pass. */
    @Test
    void templateVariablesAsTransformersPassesThem() throws IOException {
        String template = "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token is defined }}|"
                + "{{ additional_special_tokens | join(',') }}|{{ tools is none }}|{{ documents is none }}|"
                + "{{ add_generation_prompt }}|{{ messages | length }}";
        JsonObject c = config(template);
        c.add("pad_token", JsonParser.parseString("{\"content\": \"<pad>\"}"));
        c.add("unk_token", null);
        c.add("additional_special_tokens", JsonParser.parseString("[\"<a>\", {\"content\": \"<b>\"}]"));
        String got = ChatTemplate.load(model("m", c)).render(List.of(ChatMessage.user("x")), true);

        JsonObject r = new JsonObject();
        r.addProperty("op", "render");
        r.addProperty("template", template);
        r.add("context", JsonParser.parseString("{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"pad_token\":"
                + " \"<pad>\", \"additional_special_tokens\": [\"<a>\", \"<b>\"]}"));
        r.add("messages", JsonParser.parseString(ChatCases.json(List.of(ChatMessage.user("x")))));
        r.addProperty("addGenerationPrompt", true);
        assertEquals(NodeOracle.get().call(List.of(r)).get(0).get("text").getAsString(), got);
    }

    @Test
    void concurrentRendersAgree() throws Exception {
        ChatTemplate t = ChatTemplate.load(model("m", config(STRICT)));
        List<ChatMessage> chat = List.of(ChatMessage.user("a"), ChatMessage.assistant("b"), ChatMessage.user("c"));
        String expected = t.render(chat, true);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> all = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                all.add(pool.submit(() -> {
                    for (int j = 0; j < 25; j++) {
                        if (!t.render(chat, true).equals(expected)) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : all) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdown();
        }
    }
}
