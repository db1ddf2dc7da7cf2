package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lossless greedy decoding: AR is the oracle, and {@code ppsd} (k = 2, 3, 4 stages, several exit layers, batch
 * 1 / 3 / 8), {@code spd} (k = 2, 3, batch 1 / 3 / 8, an untrained SPD head with mixed verdicts:
 * {@link SpecHarness#writeSpdHead}) and {@code eesd} (gamma 1, 3, Thompson sampling) must commit exactly the same
 * token ids, text and finish reason for every request: 50 plain prompts (EOS is set to a token the model emits
 * often, so it ends about a quarter of them, mid-pipeline), token budgets 0, 1, 2, 3, 5 (ending while drafts are in
 * flight) and stop strings. Extremes: a random trained exit head (drafts all rejected), a model whose layers after E add nothing
 * (drafts all accepted), and a trained-kind head copied from layer E (its own KV cache under mixed verdicts).
 *
 * <p>Model: 6 layers, hidden 64, vocab 320, weights large enough that greedy argmaxes are well separated
 * ({@link ControlledAcceptanceModel}), layers 1..5 scaled by {@link #LATE_SCALE} so the shared head's
 * acceptance is mid-range at every exit layer. A prompt whose AR run meets a near-tie (top-2 logits within
 * {@link #NEAR_TIE}) anywhere may be skipped; skips are counted and must be rare.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LosslessGreedyTest {
    static final int LAYERS = 6;
    static final double LATE_SCALE = 0.35;
    static final int PROMPTS = 50;
    static final int MAX_NEW = 16;
    static final int[] BUDGETS = {0, 1, 2, 3, 5};
    static final int BUDGET_PROMPTS = 6;
    static final int STOP_PROMPTS = 12;
    /** Prompts used by the extreme-head cases (the first ones of the plain set). */
    static final int EXTREME_PROMPTS = 30;
    static final double NEAR_TIE = 1e-4;

    @TempDir
    static Path tmp;

    private Path modelDir;
    /** The model with an SPD head for 2 stages ({@code modelDir} itself) and a copy with one for 3. */
    private final Map<Integer, Path> spdModel = new HashMap<>();
    private List<String> prompts;
    private int eos;
    /** Requests: PROMPTS plain, then budgets, then stop strings; index -> prompt index. */
    private final List<GenerationRequest> requests = new ArrayList<>();
    private final List<Integer> promptOf = new ArrayList<>();
    private List<GenerationResult> oracle;
    private final Set<Integer> skip = new HashSet<>();

    @BeforeAll
    void writeModelAndRunOracle() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(LAYERS, 64, 320, List.of(1));
        modelDir = ControlledAcceptanceModel.write(tmp.resolve("model"), c, 1, LATE_SCALE, 42);
        prompts = SpecHarness.prompts(PROMPTS, 4242);

        // choose EOS: a token the model emits (not first) in about 40% of the greedy runs, so EOS lands
        // mid-pipeline for some prompts while the others run to the budget
        List<GenerationRequest> plain = new ArrayList<>();
        for (int i = 0; i < PROMPTS; i++) {
            plain.add(new GenerationRequest("p" + i, prompts.get(i), SamplingParams.greedy(MAX_NEW)));
        }
        List<GenerationResult> pre = SpecHarness.run(EngineOptions.of(modelDir).with(Settings.MODE, "ar"), plain).results();
        Map<Integer, Integer> promptsWith = new HashMap<>();
        for (GenerationResult r : pre) {
            Set<Integer> seen = new HashSet<>();
            for (int j = 1; j < r.tokenIds().length; j++) {
                seen.add(r.tokenIds()[j]);
            }
            seen.forEach(t -> promptsWith.merge(t, 1, Integer::sum));
        }
        eos = promptsWith.entrySet().stream()
                .min((a, b) -> Integer.compare(Math.abs(a.getValue() - 2 * PROMPTS / 5),
                        Math.abs(b.getValue() - 2 * PROMPTS / 5)))
                .orElseThrow().getKey();
        ControlledAcceptanceModel.setEos(modelDir, List.of(eos));

        // the oracle: plain prompts, budgets, stop strings taken from the plain texts
        requests.addAll(plain);
        for (int i = 0; i < PROMPTS; i++) {
            promptOf.add(i);
        }
        List<GenerationResult> plainAr = SpecHarness.run(EngineOptions.of(modelDir).with(Settings.MODE, "ar").with(Settings.BATCH_SIZE, 1), plain)
                .results();
        for (int b : BUDGETS) {
            for (int i = 0; i < BUDGET_PROMPTS; i++) {
                requests.add(new GenerationRequest("b" + b + "-" + i, prompts.get(i), SamplingParams.greedy(b)));
                promptOf.add(i);
            }
        }
        int stops = 0;
        for (int i = 0; i < PROMPTS && stops < STOP_PROMPTS; i++) {
            String stop = stopString(plainAr.get(i).text());
            if (stop != null) {
                requests.add(new GenerationRequest("s" + i, prompts.get(i),
                        SamplingParams.greedy(MAX_NEW).withValue(Settings.STOP, List.of(stop, "\u0000never"))));
                promptOf.add(i);
                stops++;
            }
        }
        long t0 = System.nanoTime();
        oracle = SpecHarness.run(EngineOptions.of(modelDir).with(Settings.MODE, "ar").with(Settings.BATCH_SIZE, 8), requests).results();
        double ms = (System.nanoTime() - t0) / 1e6;
        SpecHarness.assertSameAsOracle(plainAr, oracle.subList(0, PROMPTS), Set.of(), "ar batch 1 vs batch 8");

        // coverage of the stopping paths in the oracle itself
        long eosEnds = oracle.subList(0, PROMPTS).stream().filter(r -> r.finishReason() == FinishReason.EOS).count();
        long lengthEnds = oracle.subList(0, PROMPTS).stream().filter(r -> r.finishReason() == FinishReason.LENGTH)
                .count();
        long stopEnds = oracle.stream().filter(r -> r.finishReason() == FinishReason.STOP).count();
        long midEos = oracle.subList(0, PROMPTS).stream()
                .filter(r -> r.finishReason() == FinishReason.EOS && r.newTokens() >= 3).count();
        System.out.printf("[LosslessGreedyTest] eos id %d: plain runs end eos %d / length %d (eos after >= 3 tokens:"
                + " %d); %d stop-string requests end stop %d; %d requests, ar oracle %.0f ms%n", eos, eosEnds,
                lengthEnds, midEos, stops, stopEnds, requests.size(), ms);
        assertTrue(eosEnds >= 10 && lengthEnds >= 10, "want both EOS and LENGTH endings: " + eosEnds + " / "
                + lengthEnds);
        assertTrue(midEos >= 5, "want EOS after a few tokens (mid-pipeline): " + midEos);
        assertTrue(stopEnds >= 10, "want stop-string endings: " + stopEnds);

        findNearTies();
        spdModel.put(2, modelDir);
        SpecHarness.writeSpdHead(modelDir, 2);
        spdModel.put(3, SpecHarness.writeSpdHead(SpecHarness.copyModel(modelDir, tmp.resolve("model-spd3")), 3)
                .getParent());
    }

    /** A 2-character non-blank piece from the middle of {@code text}, or null when the text is too short. */
    private static String stopString(String text) {
        if (text == null || text.length() < 8) {
            return null;
        }
        for (int at = text.length() / 2; at + 2 <= text.length(); at++) {
            String s = text.substring(at, at + 2);
            if (s.chars().noneMatch(Character::isWhitespace) && s.chars().allMatch(ch -> ch < 128)) {
                return s;
            }
        }
        return null;
    }

    /**
     * Runs each plain oracle sequence through the model in one uncached pass and checks every generated token
     * against the argmax; prompts with a top-2 gap below {@link #NEAR_TIE} are skipped (every request on them).
     */
    private void findNearTies() {
        int nearTies = 0;
        double smallest = Double.MAX_VALUE;
        double[] gaps = SpecHarness.smallestGaps(modelDir, oracle.subList(0, PROMPTS), NEAR_TIE);
        for (int i = 0; i < PROMPTS; i++) {
            smallest = Math.min(smallest, gaps[i]);
            if (gaps[i] < NEAR_TIE) {
                nearTies++;
                for (int q = 0; q < requests.size(); q++) {
                    if (promptOf.get(q) == i) {
                        skip.add(q);
                    }
                }
            }
        }
        System.out.printf("[LosslessGreedyTest] near-ties (top-2 gap < %.0e): %d of %d prompts skipped; smallest"
                + " gap %.4f%n", NEAR_TIE, nearTies, PROMPTS, smallest);
        assertTrue(nearTies <= 2, "near-ties should be rare: " + nearTies);
    }

    /** ppsd that drafts every cycle ({@code speculation=always}), so the speculative path is what is tested. */
    private EngineOptions ppsd(int stages, int exitLayer, int batch) {
        return EngineOptions.of(modelDir).with(Settings.MODE, "ppsd").with(Settings.STAGES, String.join(",", Collections.nCopies(stages, "cpu")))
                .with(Settings.EXIT_LAYER, exitLayer).with(Settings.BATCH_SIZE, batch).with(Settings.SPECULATION, "always");
    }

    /** spd on {@code stages} stages, drafting every cycle. */
    private EngineOptions spd(int stages, int batch) {
        return EngineOptions.of(spdModel.get(stages)).with(Settings.MODE, "spd")
                .with(Settings.STAGES, String.join(",", Collections.nCopies(stages, "cpu")))
                .with(Settings.BATCH_SIZE, batch).with(Settings.SPECULATION, "always");
    }

    private EngineOptions eesd(String gamma, int exitLayer) {
        return EngineOptions.of(modelDir).with(Settings.MODE, "eesd").with(Settings.GAMMA, gamma).with(Settings.EXIT_LAYER, exitLayer);
    }

    static Stream<Arguments> configs() {
        // label, mode, stages, exit layer, batch, gamma   (k stages need E <= N - k + 1 = 7 - k)
        // "ppsd" drafts every cycle; "ppsd-auto" is the default speculation=auto, which may switch drafting
        // off and on between cycles (the no-draft branch, mixed with drafts); "ppsd-mixed" runs a scripted mix
        // of drafting, pipelined and lockstep cycles (every transition between them, many times)
        return Stream.of(
                Arguments.of("ppsd k=2 E=1 batch 8", "ppsd", 2, 1, 8, "ts"),
                Arguments.of("ppsd k=2 E=3 batch 3", "ppsd", 2, 3, 3, "ts"),
                Arguments.of("ppsd k=2 E=5 batch 1", "ppsd", 2, 5, 1, "ts"),
                Arguments.of("ppsd k=3 E=2 batch 8", "ppsd", 3, 2, 8, "ts"),
                Arguments.of("ppsd k=3 E=4 batch 3", "ppsd", 3, 4, 3, "ts"),
                Arguments.of("ppsd k=4 E=3 batch 8", "ppsd", 4, 3, 8, "ts"),
                Arguments.of("ppsd k=4 E=1 batch 3", "ppsd", 4, 1, 3, "ts"),
                Arguments.of("ppsd-auto k=2 E=3 batch 8", "ppsd-auto", 2, 3, 8, "ts"),
                Arguments.of("ppsd-mixed k=2 E=3 batch 8", "ppsd-mixed", 2, 3, 8, "ts"),
                Arguments.of("ppsd-mixed k=3 E=2 batch 5", "ppsd-mixed", 3, 2, 5, "ts"),
                Arguments.of("ar-pipe k=3 batch 3", "ar-pipe", 3, 2, 3, "ts"),
                Arguments.of("spd k=2 batch 8", "spd", 2, 0, 8, "ts"),
                Arguments.of("spd k=2 batch 1", "spd", 2, 0, 1, "ts"),
                Arguments.of("spd k=3 batch 3", "spd", 3, 0, 3, "ts"),
                Arguments.of("spd-mixed k=2 batch 8", "spd-mixed", 2, 0, 8, "ts"),
                Arguments.of("eesd gamma=1 E=3", "eesd", 2, 3, 1, "1"),
                Arguments.of("eesd gamma=3 E=2", "eesd", 2, 2, 1, "3"),
                Arguments.of("eesd gamma=ts E=4", "eesd", 2, 4, 1, "ts"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void committedTokensTextAndFinishEqualAr(String label, String mode, int stages, int exitLayer, int batch,
            String gamma) {
        EngineOptions o = switch (mode) {
            case "ppsd" -> ppsd(stages, exitLayer, batch);
            case "ppsd-auto", "ppsd-mixed" -> ppsd(stages, exitLayer, batch).with(Settings.SPECULATION, "auto");
            case "eesd" -> eesd(gamma, exitLayer);
            case "spd" -> spd(stages, batch);
            case "spd-mixed" -> spd(stages, batch).with(Settings.SPECULATION, "auto");
            default -> EngineOptions.of(modelDir).with(Settings.MODE, mode)
                    .with(Settings.STAGES, String.join(",", Collections.nCopies(stages, "cpu"))).with(Settings.BATCH_SIZE, batch);
        };
        SpecHarness.Run run = SpecHarness.run(o, requests, mode.endsWith("-mixed"));
        int compared = SpecHarness.assertSameAsOracle(oracle, run.results(), skip, label);
        SpecMetrics t = run.total();
        String line = String.format("%-24s acceptance %.3f (%d / %d drafts), flushes %d, %d requests compared,"
                + " %.0f ms", label, t.acceptance(), t.draftsAccepted(), t.draftsProposed(), t.flushes(), compared,
                run.ms());
        System.out.println("[LosslessGreedyTest] " + line);
        if (mode.equals("ppsd") || mode.equals("spd") || mode.equals("eesd")) {
            // both verifier paths were exercised: some drafts accepted, some rejected
            assertTrue(t.draftsAccepted() > 0 && t.draftsAccepted() < t.draftsProposed(),
                    label + ": acceptance should be strictly between 0 and 1 but was " + t.acceptance());
        } else if (mode.equals("ar-pipe")) {
            assertEquals(0, t.draftsProposed(), "ar-pipe drafts nothing");
        }
    }

    // ------------------------------------------------------------------ extremes

    private List<GenerationRequest> extremeRequests() {
        return requests.subList(0, EXTREME_PROMPTS);
    }

    @Test
    void draftsAllRejectedWithARandomExitHeadOutputStillIdentical() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(LAYERS, 64, 320, List.of(eos));
        Path head = ControlledAcceptanceModel.writeRandomExitHead(tmp.resolve("random-head"), c, 3, 99);
        List<GenerationResult> want = oracle.subList(0, EXTREME_PROMPTS);
        for (EngineOptions o : List.of(ppsd(2, 0, 8).with(Settings.EXIT_HEAD, head.toString()),
                ppsd(3, 3, 3).with(Settings.EXIT_HEAD, head.toString()),
                eesd("1", 0).with(Settings.EXIT_HEAD, head.toString()))) {
            String label = o.get(Settings.MODE) + " k=" + o.stageDevices(List.of()).size() + " random trained head E=3";
            SpecHarness.Run run = SpecHarness.run(o, extremeRequests());
            SpecHarness.assertSameAsOracle(want, run.results(), skip, label);
            SpecMetrics t = run.total();
            System.out.printf("[LosslessGreedyTest] %-34s acceptance %.3f (%d / %d), flushes %d, %.0f ms%n", label,
                    t.acceptance(), t.draftsAccepted(), t.draftsProposed(), t.flushes(), run.ms());
            assertTrue(t.acceptance() < 0.05, label + ": a random head should almost never be accepted: "
                    + t.acceptance());
            assertEquals(t.draftsProposed() - t.draftsAccepted(), t.flushes(), label + ": every rejection flushes");
        }
    }

    @Test
    void draftsAllAcceptedWhenLayersAfterExitAddNothing() throws IOException {
        // layers >= 2 have o_proj = down_proj = 0: h_N == h_E, so the shared head at E is the target itself
        LlamaConfig c = ControlledAcceptanceModel.config(LAYERS, 64, 320, List.of(1));
        Path dir = ControlledAcceptanceModel.write(tmp.resolve("identity-late"), c, 2, 0.0, 43);
        List<GenerationRequest> reqs = new ArrayList<>();
        List<String> ps = SpecHarness.prompts(20, 77);
        for (int i = 0; i < ps.size(); i++) {
            reqs.add(new GenerationRequest("a" + i, ps.get(i), SamplingParams.greedy(i % 4 == 0 ? 3 : 16)));
        }
        List<GenerationResult> want = SpecHarness.run(EngineOptions.of(dir).with(Settings.MODE, "ar").with(Settings.BATCH_SIZE, 8), reqs)
                .results();
        EngineOptions base = EngineOptions.of(dir).with(Settings.EXIT_LAYER, 2).with(Settings.EXIT_HEAD, "shared");
        base = base.with(Settings.SPECULATION, "always");
        for (EngineOptions o : List.of(base.with(Settings.MODE, "ppsd").with(Settings.BATCH_SIZE, 8),
                base.with(Settings.MODE, "ppsd").with(Settings.STAGES, String.join(",", List.of("cpu", "cpu", "cpu"))).with(Settings.BATCH_SIZE, 1),
                base.with(Settings.MODE, "ppsd").with(Settings.STAGES, String.join(",", List.of("cpu", "cpu", "cpu", "cpu"))).with(Settings.BATCH_SIZE, 3),
                base.with(Settings.MODE, "eesd").with(Settings.GAMMA, "3"),
                base.with(Settings.MODE, "eesd").with(Settings.GAMMA, "ts"))) {
            String label = o.get(Settings.MODE) + " k=" + o.stageDevices(List.of()).size() + " gamma=" + o.get(Settings.GAMMA) + " late layers zero";
            SpecHarness.Run run = SpecHarness.run(o, reqs);
            SpecHarness.assertSameAsOracle(want, run.results(), Set.of(), label);
            SpecMetrics t = run.total();
            System.out.printf("[LosslessGreedyTest] %-38s acceptance %.3f (%d / %d), flushes %d, %.0f ms%n", label,
                    t.acceptance(), t.draftsAccepted(), t.draftsProposed(), t.flushes(), run.ms());
            assertEquals(1.0, t.acceptance(), label + ": acceptance");
            assertEquals(0, t.flushes(), label + ": flushes");
        }
    }

    @Test
    void trainedKindHeadInitialisedFromLayerEOutputIdentical() throws IOException {
        // a trained-kind head (own decoder layer + KV cache) copied from layer E: a plausible drafter with mixed
        // accepts and rejects, exercising the head cache's truncation on flush
        Path headDir = tmp.resolve("init-head");
        try (LlamaModel m = LlamaModel.load(modelDir); NDManager sub = m.manager().newSubManager()) {
            ExitHead.initTrained(m, 3, sub).save(headDir);
        }
        List<GenerationResult> want = oracle.subList(0, EXTREME_PROMPTS);
        for (EngineOptions o : List.of(ppsd(2, 3, 8).with(Settings.EXIT_HEAD, headDir.toString()),
                ppsd(3, 0, 3).with(Settings.EXIT_HEAD, headDir.toString()),
                eesd("2", 3).with(Settings.EXIT_HEAD, headDir.toString()))) {
            String label = o.get(Settings.MODE) + " k=" + o.stageDevices(List.of()).size() + " init-trained head E=3";
            SpecHarness.Run run = SpecHarness.run(o, extremeRequests());
            SpecHarness.assertSameAsOracle(want, run.results(), skip, label);
            SpecMetrics t = run.total();
            System.out.printf("[LosslessGreedyTest] %-34s acceptance %.3f (%d / %d), flushes %d, %.0f ms%n", label,
                    t.acceptance(), t.draftsAccepted(), t.draftsProposed(), t.flushes(), run.ms());
            assertTrue(t.draftsAccepted() > 0 && t.draftsAccepted() < t.draftsProposed(), label + ": mixed verdicts");
        }
    }
}
