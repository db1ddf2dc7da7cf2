package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.ChiSquare;
import dev.ppsd.engine.decode.ConditionalChiSquare;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LayerStack;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lossless sampling: every token {@code ar}, {@code ppsd} and {@code eesd} commit must be drawn from the target's
 * (warped) distribution given the sequence's own prefix, at every position: at temperature 1 and warped
 * (temperature 0.8, top-k 5, top-p 0.9), ppsd on 2 and 3 stages, eesd with γ = 1, 3 and Thompson sampling. The
 * model has a vocabulary of {@link #VOCAB} tokens (no tokenizer: the schedulers are driven with {@link Sequence}s
 * of token ids) and a shared-head acceptance well inside (0, 1), so accepted drafts, corrections and (EESD) bonus
 * tokens all occur at every position.
 *
 * <p>Statistics: each case generates {@code sequences} x {@link #TOKENS} tokens (one seed per sequence); one batched
 * forward per batch of sequences then gives the exact target distribution p (and the drafter's q) at each of their
 * positions. The draws are tested with {@link ConditionalChiSquare} (observed minus expected counts against their
 * covariance; chi-square as counts grow) four ways: grouped by position (a bias that depends on how far a sequence
 * is), by the token before (a bias that depends on the context), all together (a bias in the same direction
 * everywhere), and as two categories, the tokens the drafter over-weights ({@code q > p}) and the rest: a verifier
 * that lets drafts through too often, or corrects them from the wrong residual, moves mass between the two, at any
 * position and in any context (for spd, q is the SPD head's with a full pipeline, as most of its drafts are
 * made: the categories stay a function of the prefix, so the test stays exact). Each of the {@link #STATISTICS} x
 * {@link #CASES} statistics is tested at alpha = 1e-4 / ({@link #STATISTICS} x {@link #CASES}) (Bonferroni), so a correct engine fails this class with
 * probability at most about 1e-4 for a random choice of seeds.
 *
 * <p>Power, measured with biased rules in a scratch copy of {@code Verifier} (statistic / critical value):
 * accepting drafts with probability {@code min(1, 1.1 p/q)} fails ppsd k=2 and k=3 at T=1 (draft side 99 and 120 /
 * 21.7) and warped (143, 116 / 21.7), eesd γ=ts (42 / 21.7) and eesd γ=3 warped (47 / 21.7); it passes only
 * eesd γ=1 (16.5 / 21.7, p = 5e-5), whose bonus tokens dilute the drafts. The earlier form of this test (the joint of
 * the first 3 tokens of 3000 sequences, Pearson chi-square against exact enumeration) passed both eesd cases
 * (86 and 124 / 163) and failed ppsd T=1 only narrowly (173 and 184 / 163). With {@code min(1, 1.05 p/q)} this test
 * still fails ppsd k=2 (pooled 38.0 / 37.9) and k=3 (draft side 31 / 21.7) at T=1 and k=2 warped (26 / 21.7); the
 * earlier one failed none (at most 140 / 163). Drawing corrections from the unnormalised residual fails every
 * drafting case of both by orders of magnitude.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LosslessSamplingTest {
    static final int VOCAB = 8;
    /** Tokens per sequence: every one is a draw under test. */
    static final int TOKENS = 16;
    static final int CASES = 10;
    static final int STATISTICS = 4;
    static final double ALPHA = 1e-4 / (STATISTICS * CASES);
    /** Expected count below which a token is pooled into a rest category. */
    static final double MIN_EXPECTED = 10;
    static final int[] PROMPT = {0, 3, 5, 2, 6};
    static final SamplingParams T1 = SamplingParams.greedy(TOKENS).withValue(Settings.TEMPERATURE, 1f);
    static final SamplingParams WARPED = SamplingParams.greedy(TOKENS).withValue(Settings.TEMPERATURE, 0.8f)
            .withValue(Settings.TOP_K, 5).withValue(Settings.TOP_P, 0.9f);
    static final int EXIT_LAYER = 2;
    /** Rows per forward when computing the exact distributions. */
    static final int FORWARD_BATCH = 256;

    @TempDir
    static Path tmp;

    private LlamaModel model;
    private Path dir;

    @BeforeAll
    void writeModel() throws IOException {
        dir = ControlledAcceptanceModel.writeSamplingModel(tmp.resolve("v8"));
        SpecHarness.writeSpdHead(dir, 2);
        model = LlamaModel.load(dir);
    }

    @AfterAll
    void close() {
        model.close();
    }

    static Stream<Arguments> cases() {
        // label, mode, stages, gamma, params, sequences, seed base. 16 000 draws per pipeline case; eesd decodes one
        // sequence at a time (~1 ms per token here, 5x a batched pipeline's), so it gets fewer: the class stays
        // under a minute on 2 cores; ar is the oracle's own control
        return Stream.of(
                Arguments.of("ar T=1", "ar", 1, "ts", T1, 400, 1_000_000L),
                Arguments.of("ppsd k=2 E=2 T=1", "ppsd", 2, "ts", T1, 1000, 2_000_000L),
                Arguments.of("ppsd k=3 E=2 T=1", "ppsd", 3, "ts", T1, 1000, 3_000_000L),
                Arguments.of("eesd gamma=1 E=2 T=1", "eesd", 2, "1", T1, 600, 4_000_000L),
                Arguments.of("eesd gamma=ts E=2 T=1", "eesd", 2, "ts", T1, 450, 5_000_000L),
                Arguments.of("ppsd k=2 E=2 warped", "ppsd", 2, "ts", WARPED, 1000, 6_000_000L),
                Arguments.of("ppsd k=3 E=2 warped", "ppsd", 3, "ts", WARPED, 1000, 7_000_000L),
                Arguments.of("spd k=2 T=1", "spd", 2, "ts", T1, 1000, 9_000_000L),
                Arguments.of("spd k=2 warped", "spd", 2, "ts", WARPED, 1000, 10_000_000L),
                Arguments.of("eesd gamma=3 E=2 warped", "eesd", 2, "3", WARPED, 450, 8_000_000L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyCommittedTokenIsDrawnFromTheTargetGivenItsPrefix(String label, String mode, int stages, String gamma,
            SamplingParams params, int sequences, long seedBase) {
        EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, mode).with(Settings.EXIT_LAYER, 2)
                .with(Settings.EXIT_HEAD, "shared")
                .with(Settings.STAGES, String.join(",", Collections.nCopies(Math.max(stages, 2), "cpu")))
                .with(Settings.BATCH_SIZE, 64).with(Settings.GAMMA, gamma).with(Settings.SPECULATION, "always");
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < sequences; i++) {
            seqs.add(new Sequence(new GenerationRequest("s" + i, "x", params.withValue(Settings.SEED, seedBase + i)),
                    PROMPT, model.config().maxPositionEmbeddings()));
        }
        long t0 = System.nanoTime();
        try (Scheduler s = SchedulerFactory.create(model, o)) {
            s.run(seqs, new StopCriteria(Set.of(), null));
        }
        double generateMs = (System.nanoTime() - t0) / 1e6;
        long proposed = 0;
        long accepted = 0;
        ConditionalChiSquare byPosition = new ConditionalChiSquare(VOCAB);
        ConditionalChiSquare byPrevious = new ConditionalChiSquare(VOCAB);
        ConditionalChiSquare pooled = new ConditionalChiSquare(VOCAB);
        ConditionalChiSquare draftSide = new ConditionalChiSquare(2);
        List<int[]> generated = new ArrayList<>();
        for (Sequence s : seqs) {
            int[] g = s.generated();
            assertEquals(TOKENS, g.length, label + ": every sequence runs to its budget");
            generated.add(g);
            proposed += s.spec().draftsProposed();
            accepted += s.spec().draftsAccepted();
        }
        Distributions d = distributions(generated, params, mode.equals("spd"));
        for (int i = 0; i < generated.size(); i++) {
            int[] g = generated.get(i);
            for (int t = 0; t < TOKENS; t++) {
                float[] p = d.target()[i][t];
                float[] q = d.draft()[i][t];
                int previous = t == 0 ? PROMPT[PROMPT.length - 1] : g[t - 1];
                byPosition.add(t, g[t], p);
                byPrevious.add(previous, g[t], p);
                pooled.add(0, g[t], p);
                // two categories: the tokens the drafter over-weights (q > p), and the rest
                float overweighted = 0;
                for (int v = 0; v < VOCAB; v++) {
                    overweighted += q[v] > p[v] ? p[v] : 0;
                }
                draftSide.add(0, q[g[t]] > p[g[t]] ? 0 : 1, new float[] {overweighted, 1 - overweighted});
            }
        }
        double totalMs = (System.nanoTime() - t0) / 1e6;
        double critical = 0;
        StringBuilder failures = new StringBuilder();
        StringBuilder line = new StringBuilder();
        for (var named : List.of(Map.entry("position", byPosition), Map.entry("previous token", byPrevious),
                Map.entry("pooled", pooled), Map.entry("draft side", draftSide))) {
            ConditionalChiSquare.Result r = named.getValue().result(MIN_EXPECTED);
            critical = ChiSquare.criticalValue(r.df(), ALPHA);
            line.append(String.format("  by %s: Q = %7.2f df = %3d critical %6.2f p %.3f", named.getKey(),
                    r.statistic(), r.df(), critical, r.pValue()));
            if (!(r.statistic() < critical)) {
                failures.append(String.format("%n  by %s: Q = %.2f >= %.2f (df %d, p-value %.2e)", named.getKey(),
                        r.statistic(), critical, r.df(), r.pValue()));
            }
        }
        System.out.printf("[LosslessSamplingTest] %-26s %s  acceptance %.3f (%d / %d)  %.0f ms (%.0f generating)%n",
                label, line, proposed == 0 ? Double.NaN : (double) accepted / proposed, accepted, proposed, totalMs,
                generateMs);
        assertTrue(failures.length() == 0, label + ": committed tokens are not distributed as the target given their"
                + " prefix (" + sequences + " sequences x " + TOKENS + " tokens, alpha " + ALPHA + ")" + failures);
        if (!mode.equals("ar")) {
            assertTrue(accepted > 0.2 * proposed && accepted < 0.9 * proposed,
                    label + ": want mixed accept / reject, acceptance " + accepted + " / " + proposed);
        }
    }

    /**
     * The exact target and draft distributions at every generated position: {@code [sequence][t][token]}, the warped
     * distributions after {@code PROMPT + generated[0, t)} of the full model (target) and of the shared LM head after
     * layer {@link #EXIT_LAYER} (draft; with {@code spd} the SPD head's with a full pipeline), from full forwards of
     * whole sequences (a batch of rows of equal length per forward; position {@code PROMPT.length - 1 + t} predicts
     * token t).
     */
    private Distributions distributions(List<int[]> generated, SamplingParams params, boolean spd) {
        float[][][] target = new float[generated.size()][][];
        float[][][] draft = new float[generated.size()][][];
        int len = PROMPT.length + TOKENS - 1;
        LayerStack lower = model.stack(0, EXIT_LAYER);
        LayerStack upper = model.stack(EXIT_LAYER, model.config().numHiddenLayers());
        NDManager m = model.manager();
        for (int from = 0; from < generated.size(); from += FORWARD_BATCH) {
            int b = Math.min(FORWARD_BATCH, generated.size() - from);
            int[][] rows = new int[b][len];
            int[] start = new int[b];
            int[] slots = new int[b];
            for (int r = 0; r < b; r++) {
                System.arraycopy(PROMPT, 0, rows[r], 0, PROMPT.length);
                System.arraycopy(generated.get(from + r), 0, rows[r], PROMPT.length, TOKENS - 1);
                slots[r] = r;
            }
            float[][] p;
            float[][] q;
            try (KvCache low = lower.newCache(m, b, len); KvCache high = upper.newCache(m, b, len);
                    NDScope ignored = new NDScope()) {
                AttentionBatch a = lower.batch(m, start, slots, len);
                NDArray hE = lower.forward(model.embed(m, rows), a, low);
                q = LlamaModel.rows(model.logits(hE)); // shared head: final norm + LM head on h_E, [B * len][V]
                p = LlamaModel.rows(model.logits(upper.forward(hE, a, high))); // [B, len, V] -> [B * len][V]
                if (spd) {
                    q = spdHeadLogits(rows);
                }
            }
            for (int r = 0; r < b; r++) {
                target[from + r] = new float[TOKENS][];
                draft[from + r] = new float[TOKENS][];
                for (int t = 0; t < TOKENS; t++) {
                    target[from + r][t] = Sampler.distribution(p[r * len + PROMPT.length - 1 + t], params);
                    draft[from + r][t] = Sampler.distribution(q[r * len + PROMPT.length - 1 + t], params);
                }
            }
        }
        return new Distributions(target, draft);
    }

    /** The SPD head's draft logits at every position of {@code rows} with a full pipeline: {@code [B * len][V]}. */
    private float[][] spdHeadLogits(int[][] rows) {
        NDManager m = model.manager();
        try (NDManager sub = m.newSubManager()) {
            SpdHead head = SpdHead.load(dir.resolve(SpdHead.DIR), model, sub);
            int[] anchors = head.anchors();
            NDArray[] states = new NDArray[anchors.length];
            AttentionBatch causal = AttentionBatch.causal(m, model.rope(), rows.length, rows[0].length);
            model.stack(0, model.config().numHiddenLayers()).forward(model.embed(m, rows), causal, null, anchors,
                    states);
            int[] fill = new int[rows.length];
            java.util.Arrays.fill(fill, head.stages());
            return LlamaModel.rows(head.teacherForcedLogits(m, model.rope(), rows, states, fill));
        }
    }

    private record Distributions(float[][][] target, float[][][] draft) {
    }
}
