package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.schedule.ControlledAcceptanceModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lossless guided decoding, greedy: with a constraint on every row, {@code ppsd} (k = 2, 3, speculation always)
 * and {@code eesd} (γ 1, 3, Thompson sampling) commit exactly the token ids, text, finish reason and incomplete
 * flag of guided {@code ar}. The model is the lossless tests' controlled-acceptance one (6 layers, vocab 320 with
 * the one-token-per-byte tokenizer, so every UTF-8 character of a multi-byte choice is written byte by byte and the
 * rule sits inside a character between tokens), with mid-range acceptance so drafts are accepted and rejected —
 * every rejection flushes and the rule must rewind — and a random trained exit head whose drafts are all rejected.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GuidedLosslessTest {
    static final int LAYERS = 6;
    static final int PROMPTS = 12;
    static final int BUDGET = 40;
    static final String SCHEMA = """
            {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"},
              "w": {"type": "string", "enum": ["é", "日本", "x"]}}, "required": ["ok"]}""";
    static final List<SamplingParams> CONSTRAINTS = List.of(
            SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_CHOICE, List.of("café", "日本語", "ab 😀", "a")),
            SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_REGEX, "[a-z]{2,6}( [0-9]+)?(, ?[a-z]+)*\\."),
            SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_JSON, SCHEMA));

    @TempDir
    static Path tmp;

    private Path modelDir;
    private final List<GenerationRequest> requests = new ArrayList<>();
    private List<GenerationResult> oracle;

    @BeforeAll
    void writeModelAndRunAr() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(LAYERS, 64, 320, List.of(1));
        modelDir = ControlledAcceptanceModel.write(tmp.resolve("model"), c, 1, 0.35, 42);
        String[] words = "In the beginning God created heaven and earth public static int add return for sum"
                .split(" ");
        SplittableRandom r = new SplittableRandom(4242);
        for (int i = 0; i < PROMPTS; i++) {
            StringBuilder p = new StringBuilder();
            for (int w = 1 + r.nextInt(6); w > 0; w--) {
                p.append(p.length() == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
            }
            for (int k = 0; k < CONSTRAINTS.size(); k++) {
                requests.add(new GenerationRequest("c" + k + "-p" + i, p.toString(), CONSTRAINTS.get(k)));
            }
        }
        oracle = run(EngineOptions.of(modelDir).with(Settings.BATCH_SIZE, 8));
        long complete = oracle.stream().filter(g -> Boolean.FALSE.equals(g.incomplete())).count();
        System.out.printf("[GuidedLosslessTest] ar oracle: %d requests, %d complete%n", oracle.size(), complete);
        assertTrue(complete >= oracle.size() / 3 && complete < oracle.size(), "both complete and cut rows: "
                + complete);
    }

    private List<GenerationResult> run(EngineOptions o) {
        try (GenerationEngine e = GenerationEngine.open(o)) {
            List<GenerationResult> out = e.generate(requests);
            out.forEach(g -> assertTrue(g.ok(), g.id() + ": " + g.error()));
            return out;
        }
    }

    static Stream<Arguments> configs() {
        // label, mode, stages, exit layer, batch, gamma
        return Stream.of(
                Arguments.of("ppsd k=2 E=1 batch 8", "ppsd", 2, 1, 8, "ts"),
                Arguments.of("ppsd k=2 E=3 batch 3", "ppsd", 2, 3, 3, "ts"),
                Arguments.of("ppsd k=3 E=2 batch 8", "ppsd", 3, 2, 8, "ts"),
                Arguments.of("ppsd k=3 E=4 batch 1", "ppsd", 3, 4, 1, "ts"),
                Arguments.of("eesd gamma=1 E=3", "eesd", 2, 3, 1, "1"),
                Arguments.of("eesd gamma=3 E=2", "eesd", 2, 2, 1, "3"),
                Arguments.of("eesd gamma=ts E=4", "eesd", 2, 4, 1, "ts"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void guidedSpeculativeGreedyIsTokenIdenticalToGuidedAr(String label, String mode, int stages, int exitLayer,
            int batch, String gamma) {
        EngineOptions o = EngineOptions.of(modelDir).with(Settings.MODE, mode).with(Settings.EXIT_LAYER, exitLayer)
                .with(Settings.STAGES, String.join(",", Collections.nCopies(stages, "cpu")))
                .with(Settings.BATCH_SIZE, batch).with(Settings.GAMMA, gamma).with(Settings.SPECULATION, "always");
        long t0 = System.nanoTime();
        List<GenerationResult> got = run(o);
        long proposed = 0;
        long accepted = 0;
        long flushes = 0;
        for (int i = 0; i < got.size(); i++) {
            GenerationResult want = oracle.get(i);
            GenerationResult g = got.get(i);
            String where = label + ", " + g.id();
            assertArrayEquals(want.tokenIds(), g.tokenIds(), where + ": token ids differ from guided ar\n  ar:  "
                    + Arrays.toString(want.tokenIds()) + "\n  got: " + Arrays.toString(g.tokenIds()));
            assertEquals(want.text(), g.text(), where);
            assertEquals(want.finishReason(), g.finishReason(), where);
            assertEquals(want.incomplete(), g.incomplete(), where);
            proposed += g.spec().draftsProposed();
            accepted += g.spec().draftsAccepted();
            flushes += g.spec().flushes();
        }
        System.out.printf("[GuidedLosslessTest] %-22s acceptance %.3f (%d / %d), flushes %d, %.0f ms%n", label,
                (double) accepted / proposed, accepted, proposed, flushes, (System.nanoTime() - t0) / 1e6);
        assertTrue(accepted > 0 && accepted < proposed, label + ": drafts accepted and rejected");
        assertTrue(flushes > 0, label + ": rejections flush, and the rule rewinds");
    }

    @Test
    void draftsAllRejectedByARandomHeadStillIdentical() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(LAYERS, 64, 320, List.of(1));
        Path head = ControlledAcceptanceModel.writeRandomExitHead(tmp.resolve("random-head"), c, 3, 99);
        for (String mode : List.of("ppsd", "eesd")) {
            EngineOptions o = EngineOptions.of(modelDir).with(Settings.MODE, mode).with(Settings.EXIT_HEAD,
                    head.toString()).with(Settings.STAGES, "cpu,cpu").with(Settings.BATCH_SIZE, 8)
                    .with(Settings.GAMMA, "2").with(Settings.SPECULATION, "always");
            List<GenerationResult> got = run(o);
            long flushes = 0;
            for (int i = 0; i < got.size(); i++) {
                assertArrayEquals(oracle.get(i).tokenIds(), got.get(i).tokenIds(), mode + ", " + got.get(i).id());
                flushes += got.get(i).spec().flushes();
            }
            assertTrue(flushes > got.size(), mode + ": many flushes: " + flushes);
        }
    }
}
