package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.chat.NodeOracle;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.TinyModels;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guided decoding with the real Llama 3.1 vocabulary (128,256 ids: 128,000 byte-level BPE tokens, 256 special),
 * fetched by the engine tests' {@link NodeOracle} (skipped with the reason without node / npm / the registry), on
 * a random 2-layer model of that vocabulary ({@link TinyModels#write}, tokenizer.json replaced): the token bytes
 * agree with the tokenizer's own decoding, every complete text satisfies its constraint greedy and sampled, greedy
 * {@code ppsd} is token-identical to {@code ar}, sampled rows go through tokens that end inside a UTF-8 character,
 * and the cost of a mask over 128k tokens is printed cold (computed) and warm (cached).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Llama3VocabGuidedTest {
    static final int VOCAB = 128256;
    static final int BUDGET = 24;

    @TempDir
    static Path tmp;

    private Path model;
    private TokenTable table;

    @BeforeAll
    void writeModel() throws IOException {
        Path tokenizer = NodeOracle.get().tokenizerDir("llama3_1").resolve("tokenizer.json");
        LlamaConfig c = new LlamaConfig(64, 128, 2, 4, 2, 16, 1e-5f, 500000f, VOCAB, 512, false, 128000,
                List.of(128001, 128008, 128009));
        model = TinyModels.write(tmp.resolve("llama3-vocab"), c, 11);
        Files.copy(tokenizer, model.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        table = TokenTable.load(model.resolve("tokenizer.json"), VOCAB);
    }

    @Test
    void tokenBytesAgreeWithTheTokenizer() {
        try (TextTokenizer tok = TextTokenizer.load(model)) {
            int special = 0;
            int partial = 0;
            SplittableRandom r = new SplittableRandom(1);
            for (int id = 0; id < VOCAB; id++) {
                byte[] b = table.bytes(id);
                if (b == null) {
                    special++;
                    continue;
                }
                String text = strictUtf8(b);
                if (text == null) {
                    partial++;
                } else if (id % 97 == 0) { // a sample of whole-character tokens, one by one
                    assertEquals(tok.decode(new int[] {id}, 1), text, "token " + id);
                }
            }
            assertEquals(256, special, "Llama 3's 256 special tokens have no bytes");
            assertTrue(partial > 1000, "byte-level tokens that end inside a character: " + partial);
            // sequences of random tokens (partial ones included): the concatenated bytes are the decoded text
            for (int n = 0; n < 200; n++) {
                int[] ids = new int[8];
                java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
                for (int i = 0; i < ids.length; i++) {
                    do {
                        ids[i] = r.nextInt(128000);
                    } while (table.bytes(ids[i]) == null);
                    bytes.writeBytes(table.bytes(ids[i]));
                }
                String want = strictUtf8(bytes.toByteArray());
                if (want != null) {
                    assertEquals(want, tok.decode(ids, ids.length), java.util.Arrays.toString(ids));
                }
            }
        }
    }

    private static String strictUtf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    record Case(SamplingParams params, Function<String, String> check) {
    }

    static List<Case> cases() {
        List<String> choices = List.of("café", "naïve", "日本語のテキスト", "Ünïcödé 😀🎉", "yes");
        String re = "[A-Z][a-z]{2,8} [0-9]{1,3}(, [a-zé]{1,6})?";
        String schema = "{\"type\":\"object\",\"properties\":{\"city\":{\"enum\":[\"Zürich\",\"東京\",\"Paris\"]},"
                + "\"ok\":{\"type\":\"boolean\"},\"n\":{\"type\":\"integer\"}},\"required\":[\"city\",\"ok\"]}";
        return List.of(
                new Case(SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_CHOICE, choices),
                        t -> choices.contains(t) ? null : "'" + t + "' is not a choice"),
                new Case(SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_REGEX, re),
                        t -> Pattern.compile(re).matcher(t).matches() ? null : "'" + t + "' does not match"),
                new Case(SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_JSON, schema),
                        t -> SchemaCheck.check(t, schema)));
    }

    private List<GenerationResult> generate(GenerationEngine e, boolean sampled, List<Case> cases) {
        List<GenerationRequest> reqs = new ArrayList<>();
        List<Case> caseOf = new ArrayList<>();
        String[] prompts = {"The answer is", "Réponse :", "答え：", "JSON:"};
        int i = 0;
        for (Case c : cases) {
            for (String p : prompts) {
                SamplingParams sp = sampled ? c.params().withValue(Settings.TEMPERATURE, 1.0)
                        .withValue(Settings.SEED, 31L * i) : c.params();
                reqs.add(new GenerationRequest("r" + i++, p, sp));
                caseOf.add(c);
            }
        }
        List<GenerationResult> out = e.generate(reqs);
        for (int k = 0; k < out.size(); k++) {
            GenerationResult r = out.get(k);
            assertTrue(r.ok(), r.error());
            if (Boolean.FALSE.equals(r.incomplete())) {
                assertNull(caseOf.get(k).check().apply(r.text()), r.id());
            } else {
                assertEquals(FinishReason.LENGTH, r.finishReason());
            }
        }
        return out;
    }

    @Test
    void textsSatisfyTheirConstraintsAndPpsdEqualsAr() {
        List<Case> cases = cases();
        List<GenerationResult> ar;
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(model).with(Settings.BATCH_SIZE, 8))) {
            GuidedDecoding.Stats s0 = e.guided().stats();
            ar = generate(e, false, cases);
            GuidedDecoding.Stats cold = e.guided().stats().minus(s0);
            GuidedDecoding.Stats s1 = e.guided().stats();
            generate(e, false, cases);
            GuidedDecoding.Stats warm = e.guided().stats().minus(s1);
            System.out.printf("[Llama3VocabGuidedTest] 128k vocab, ar greedy: cold run %d masks built, %.2f ms each;"
                    + " %.3f ms per application (compiles %.0f ms for %d constraints); warm run %d masks built,"
                    + " %.3f ms per application%n", cold.maskBuilds(), cold.maskBuildMs() / cold.maskBuilds(),
                    cold.applyMs() / cold.applies(), cold.compileMs(), cold.compiles(), warm.maskBuilds(),
                    warm.applyMs() / warm.applies());
            assertEquals(0, warm.maskBuilds(), "the same rows again: every mask comes from the cache");
            int partial = 0;
            List<GenerationResult> sampled = generate(e, true, cases);
            for (GenerationResult r : sampled) {
                for (int id : r.tokenIds()) {
                    byte[] b = table.bytes(id);
                    partial += b != null && strictUtf8(b) == null ? 1 : 0;
                }
            }
            long complete = sampled.stream().filter(r -> Boolean.FALSE.equals(r.incomplete())).count();
            System.out.printf("[Llama3VocabGuidedTest] sampled: %d / %d complete, %d tokens that end inside a"
                    + " character%n", complete, sampled.size(), partial);
            assertTrue(partial > 0, "sampling over the masks uses tokens that split a character");
            assertTrue(complete >= sampled.size() / 2, "complete rows: " + complete);
        }
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(model).with(Settings.MODE, "ppsd")
                .with(Settings.STAGES, "cpu,cpu").with(Settings.EXIT_LAYER, 1).with(Settings.SPECULATION, "always")
                .with(Settings.BATCH_SIZE, 8))) {
            List<GenerationResult> ppsd = generate(e, false, cases);
            for (int k = 0; k < ar.size(); k++) {
                assertArrayEquals(ar.get(k).tokenIds(), ppsd.get(k).tokenIds(), ar.get(k).id());
            }
        }
    }
}
