package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.ChiSquare;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
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
 * Lossless sampling: with temperature 1 (and one warped setting), the joint distribution of the first
 * {@link #TOKENS} generated tokens under {@code ar}, {@code ppsd} and {@code eesd} must equal the model's exact
 * distribution, computed by enumerating every prefix with full forwards. The model has a vocabulary of
 * {@link #VOCAB} tokens (no tokenizer: the schedulers are driven with {@link Sequence}s of token ids) and a
 * shared-head acceptance well inside (0, 1), so accepted drafts, corrections and (EESD) bonus tokens all occur
 * in the first three positions.
 *
 * <p>Statistics: {@link #SEQUENCES} sequences per mode, one seed each. Cells are the V^3 token triples; cells
 * with expected count below 5 are pooled into one "rest" cell (pooled with the smallest cell if the rest itself is
 * below 5). Pearson's chi-square against the exact probabilities, df = cells - 1. There are
 * {@link #CASES} cases, each tested at alpha = 1e-4 / {@link #CASES} (Bonferroni), so a correct engine fails this
 * class with probability at most 1e-4 for a random choice of seeds. With the fixed model here the pooling gives
 * df = 95 for the temperature-1 cases (critical value chi2.isf(1.67e-5, 95) = 163.30) and df = 43 for the warped
 * case (critical value chi2.isf(1.67e-5, 43) = 92.70); both are recomputed by {@link ChiSquare} and printed.
 * A verifier that committed the draft distribution q instead of p would be off by the draft/target total
 * variation (~0.3 per token here) and fail by orders of magnitude.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LosslessSamplingTest {
    static final int VOCAB = 8;
    static final int TOKENS = 3;
    static final int SEQUENCES = 3000;
    static final int CASES = 6;
    static final double ALPHA = 1e-4 / CASES;
    static final int[] PROMPT = {0, 3, 5, 2, 6};
    /** Late-layer scale: shared-head sampling acceptance ~0.7 at E=2. */
    static final double LATE_SCALE = 2.5;
    /** LM head scale: logit std ~1, so the first three tokens spread over ~100 triples with expected count >= 5. */
    static final float HEAD_SCALE = 0.33f;
    static final SamplingParams T1 = SamplingParams.greedy(TOKENS).withValue(Settings.TEMPERATURE, 1f);
    static final SamplingParams WARPED = SamplingParams.greedy(TOKENS).withValue(Settings.TEMPERATURE, 0.8f).withValue(Settings.TOP_K, 5).withValue(Settings.TOP_P, 0.9f);

    @TempDir
    static Path tmp;

    private LlamaModel model;
    private Path dir;

    @BeforeAll
    void writeModel() throws IOException {
        // 4 layers, hidden 32, vocab 8, no EOS; layers >= 2 scaled by LATE_SCALE, LM head by HEAD_SCALE
        LlamaConfig c = new LlamaConfig(32, 64, 4, 4, 2, 8, 1e-5f, 10000f, VOCAB, 64, false, 0, List.of());
        dir = tmp.resolve("v8");
        c.save(dir);
        Map<String, Safetensors.Tensor> t = ControlledAcceptanceModel.tensors(c, 2, LATE_SCALE, 2024);
        float[] head = t.get(LlamaWeights.LM_HEAD).values();
        for (int i = 0; i < head.length; i++) {
            head[i] *= HEAD_SCALE;
        }
        Safetensors.write(dir.resolve("model.safetensors"), t, "F32");
        model = LlamaModel.load(dir);
    }

    @AfterAll
    void close() {
        model.close();
    }

    /** The exact probability of every token triple, from full forwards over each prefix. */
    private double[] exact(SamplingParams params) {
        double[] joint = new double[VOCAB * VOCAB * VOCAB];
        float[] p1 = Sampler.distribution(lastLogits(PROMPT), params);
        for (int a = 0; a < VOCAB; a++) {
            if (p1[a] == 0) {
                continue;
            }
            float[] p2 = Sampler.distribution(lastLogits(append(PROMPT, a)), params);
            for (int b = 0; b < VOCAB; b++) {
                if (p2[b] == 0) {
                    continue;
                }
                float[] p3 = Sampler.distribution(lastLogits(append(PROMPT, a, b)), params);
                for (int c = 0; c < VOCAB; c++) {
                    joint[(a * VOCAB + b) * VOCAB + c] = (double) p1[a] * p2[b] * p3[c];
                }
            }
        }
        return joint;
    }

    private float[] lastLogits(int[] tokens) {
        try (KvCache cache = model.newCache(1, tokens.length)) {
            float[][] l = model.forwardLogits(cache, 0, tokens, 0);
            return l[l.length - 1];
        }
    }

    private static int[] append(int[] a, int... more) {
        int[] out = Arrays.copyOf(a, a.length + more.length);
        System.arraycopy(more, 0, out, a.length, more.length);
        return out;
    }

    static Stream<Arguments> cases() {
        // label, options tweak, params, seed base
        return Stream.of(
                Arguments.of("ar T=1", "ar", 1, "ts", T1, 1_000_000L),
                Arguments.of("ppsd k=2 E=2 T=1", "ppsd", 2, "ts", T1, 2_000_000L),
                Arguments.of("ppsd k=3 E=2 T=1", "ppsd", 3, "ts", T1, 3_000_000L),
                Arguments.of("eesd gamma=1 E=2 T=1", "eesd", 2, "1", T1, 4_000_000L),
                Arguments.of("eesd gamma=ts E=2 T=1", "eesd", 2, "ts", T1, 5_000_000L),
                Arguments.of("ppsd k=2 E=2 T=0.8 top_k=5 top_p=0.9", "ppsd", 2, "ts", WARPED, 6_000_000L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void firstTokensDistributedAsAr(String label, String mode, int stages, String gamma, SamplingParams params,
            long seedBase) {
        EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, mode).with(Settings.EXIT_LAYER, 2).with(Settings.EXIT_HEAD, "shared")
                .with(Settings.STAGES, String.join(",", Collections.nCopies(Math.max(stages, 2), "cpu"))).with(Settings.BATCH_SIZE, 64).with(Settings.GAMMA, gamma)
                .with(Settings.SPECULATION, "always");
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < SEQUENCES; i++) {
            seqs.add(new Sequence(new GenerationRequest("s" + i, "x", params.withValue(Settings.SEED, seedBase + i)), PROMPT,
                    model.config().maxPositionEmbeddings()));
        }
        long t0 = System.nanoTime();
        long proposed = 0;
        long accepted = 0;
        try (Scheduler s = SchedulerFactory.create(model, o)) {
            s.run(seqs, new StopCriteria(Set.of(), null));
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        long[] counts = new long[VOCAB * VOCAB * VOCAB];
        for (Sequence s : seqs) {
            int[] g = s.generated();
            assertEquals(TOKENS, g.length, "every sequence runs to its budget");
            counts[(g[0] * VOCAB + g[1]) * VOCAB + g[2]]++;
            proposed += s.spec().draftsProposed();
            accepted += s.spec().draftsAccepted();
        }
        double[] p = exact(params);
        // pool cells whose expected count is below 5
        List<Long> obs = new ArrayList<>();
        List<Double> exp = new ArrayList<>();
        long restObs = 0;
        double restExp = 0;
        for (int i = 0; i < p.length; i++) {
            double e = p[i] * SEQUENCES;
            if (e >= 5) {
                obs.add(counts[i]);
                exp.add(e);
            } else {
                assertTrue(p[i] > 0 || counts[i] == 0, label + ": triple " + i + " has probability 0 but occurred "
                        + counts[i] + " times");
                restObs += counts[i];
                restExp += e;
            }
        }
        if (restExp >= 5) {
            obs.add(restObs);
            exp.add(restExp);
        } else if (restExp > 0) { // pool the small rest into the smallest cell
            int min = 0;
            for (int i = 1; i < exp.size(); i++) {
                min = exp.get(i) < exp.get(min) ? i : min;
            }
            obs.set(min, obs.get(min) + restObs);
            exp.set(min, exp.get(min) + restExp);
        }
        int df = obs.size() - 1;
        double x = ChiSquare.statistic(obs.stream().mapToLong(Long::longValue).toArray(),
                exp.stream().mapToDouble(Double::doubleValue).toArray());
        double critical = ChiSquare.criticalValue(df, ALPHA);
        System.out.printf("[LosslessSamplingTest] %-38s chi2 = %7.2f  df = %2d  critical = %6.2f (alpha %.2e)  p-value"
                + " %.3f  acceptance %.3f (%d / %d)  %.0f ms%n", label, x, df, critical, ALPHA,
                ChiSquare.survival(x, df), proposed == 0 ? Double.NaN : (double) accepted / proposed, accepted,
                proposed, ms);
        assertTrue(x < critical, label + ": first " + TOKENS + " tokens are not distributed as the model's exact"
                + " distribution: chi2 " + x + " >= " + critical + " (df " + df + ")");
        if (!mode.equals("ar")) {
            assertTrue(accepted > 0.2 * proposed && accepted < 0.9 * proposed,
                    label + ": want mixed accept / reject, acceptance " + accepted + " / " + proposed);
        }
    }
}
