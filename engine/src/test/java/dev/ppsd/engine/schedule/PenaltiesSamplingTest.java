package dev.ppsd.engine.schedule;

import dev.ppsd.engine.decode.ChiSquare;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.LogitsRules;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lossless sampling with the penalties on: the first three tokens of ar, ppsd (k = 2) and eesd, with repetition,
 * presence and frequency penalties at temperature 1, are distributed as the penalized model's exact distribution,
 * enumerated here with the penalties written out plainly (chi-square, cells with expected count below 5 pooled). The
 * penalties act on the tokens of the draft's own path in the drafter and on the committed ones in the target:
 * rules applied to one but not the other would move the distribution far off.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PenaltiesSamplingTest {
    static final int VOCAB = 8;
    static final int SEQUENCES = 3000;
    static final double ALPHA = 1e-4 / 3;
    static final int[] PROMPT = {0, 3, 5, 2, 6};
    static final SamplingParams PARAMS = SamplingParams.greedy(3).with(Settings.TEMPERATURE, 1.0)
            .with(Settings.REPETITION_PENALTY, 1.6).with(Settings.PRESENCE_PENALTY, 0.4)
            .with(Settings.FREQUENCY_PENALTY, 0.5);

    @TempDir
    static Path tmp;
    private LlamaModel model;
    private Path dir;

    @BeforeAll
    void writeModel() throws IOException {
        dir = ControlledAcceptanceModel.writeSamplingModel(tmp.resolve("v8"));
        model = LlamaModel.load(dir);
    }

    @AfterAll
    void close() {
        model.close();
    }

    private float[] logits(int[] tokens) {
        try (KvCache cache = model.newCache(1, tokens.length)) {
            float[][] l = model.forwardLogits(cache, 0, tokens, 0);
            return l[l.length - 1];
        }
    }

    /** The penalties written out plainly: repetition over prompt + text, presence / frequency over the text. */
    private static float[] penalized(float[] raw, int[] generated) {
        float[] l = raw.clone();
        Set<Integer> seen = new HashSet<>();
        for (int t : PROMPT) {
            seen.add(t);
        }
        for (int t : generated) {
            seen.add(t);
        }
        for (int t : seen) {
            l[t] = l[t] > 0 ? l[t] / 1.6f : l[t] * 1.6f;
        }
        for (int t : new HashSet<>(Arrays.stream(generated).boxed().toList())) {
            long count = Arrays.stream(generated).filter(x -> x == t).count();
            l[t] -= (float) (0.5 * count + 0.4);
        }
        return l;
    }

    private float[] next(int... generated) {
        int[] seq = Arrays.copyOf(PROMPT, PROMPT.length + generated.length);
        System.arraycopy(generated, 0, seq, PROMPT.length, generated.length);
        return Sampler.distribution(penalized(logits(seq), generated), PARAMS);
    }

    private double[] exact() {
        double[] joint = new double[VOCAB * VOCAB * VOCAB];
        float[] p1 = next();
        for (int a = 0; a < VOCAB; a++) {
            float[] p2 = next(a);
            for (int b = 0; b < VOCAB; b++) {
                float[] p3 = next(a, b);
                for (int c = 0; c < VOCAB; c++) {
                    joint[(a * VOCAB + b) * VOCAB + c] = (double) p1[a] * p2[b] * p3[c];
                }
            }
        }
        return joint;
    }

    @ParameterizedTest
    @ValueSource(strings = {"ar", "ppsd", "eesd"})
    void firstTokensWithPenaltiesDistributedAsThePenalizedModel(String mode) {
        EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, mode).with(Settings.EXIT_LAYER, 2)
                .with(Settings.EXIT_HEAD, "shared").with(Settings.BATCH_SIZE, 64).with(Settings.GAMMA, "2")
                .with(Settings.SPECULATION, "always");
        List<Sequence> seqs = new ArrayList<>();
        long seedBase = 7_000_000L + mode.hashCode() * 10_000L;
        for (int i = 0; i < SEQUENCES; i++) {
            SamplingParams p = PARAMS.with(Settings.SEED, seedBase + i);
            seqs.add(new Sequence(new GenerationRequest("s" + i, "x", p), PROMPT, 64, LogitsRules.of(p, Set.of())));
        }
        try (Scheduler s = SchedulerFactory.create(model, o)) {
            s.run(seqs, new StopCriteria(Set.of(), null));
        }
        long[] counts = new long[VOCAB * VOCAB * VOCAB];
        for (Sequence s : seqs) {
            int[] g = s.generated();
            counts[(g[0] * VOCAB + g[1]) * VOCAB + g[2]]++;
        }
        ChiSquare.Result r = ChiSquare.pooled(counts, exact(), SEQUENCES);
        double critical = ChiSquare.criticalValue(r.df(), ALPHA);
        System.out.printf("[PenaltiesSamplingTest] %-5s chi2 = %7.2f  df = %2d  critical = %6.2f  p-value %.3f%n", mode,
                r.statistic(), r.df(), critical, ChiSquare.survival(r.statistic(), r.df()));
        assertTrue(r.statistic() < critical, mode + ": not distributed as the penalized model: chi2 " + r.statistic()
                + " >= " + critical);
    }
}
