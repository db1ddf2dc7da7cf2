package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.decode.ChiSquare;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.schedule.ControlledAcceptanceModel;
import dev.ppsd.engine.schedule.SchedulerFactory;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lossless guided sampling: under a constraint, the joint distribution of the first {@link #TOKENS} tokens of
 * {@code ppsd} (k = 2) and {@code eesd} (γ = 2) at temperature 1 equals the exact one, computed by enumerating every
 * prefix with full forwards and masking each position's logits by the constraint's state there. The vocabulary
 * has {@link #VOCAB} tokens with hand-made bytes — {@code a}, {@code b}, {@code c}, {@code ab}, {@code bc},
 * {@code ca} and the two bytes of {@code é} — and the constraint {@code (a|bc|é)+}, so the mask changes with the
 * state (after {@code b} only {@code c} or {@code ca}; after the first byte of {@code é} only its second) and a
 * rejected draft must rewind it. The same statistics as {@code LosslessSamplingTest}: cells with expected count
 * below 5 pooled, Pearson's chi-square, alpha = 1e-4 / {@link #CASES} per case (Bonferroni).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GuidedSamplingTest {
    static final int VOCAB = 8;
    static final int TOKENS = 3;
    static final int SEQUENCES = 2000;
    static final int CASES = 2;
    static final double ALPHA = 1e-4 / CASES;
    static final int[] PROMPT = {0, 3, 5, 2, 6};
    static final SamplingParams T1 = SamplingParams.greedy(TOKENS).withValue(Settings.TEMPERATURE, 1.0);
    static final byte[][] BYTES = {{'a'}, {'b'}, {'c'}, {'a', 'b'}, {'b', 'c'}, {'c', 'a'}, {(byte) 0xC3},
        {(byte) 0xA9}};

    @TempDir
    static Path tmp;

    private LlamaModel model;
    private Path dir;
    private Constraint constraint;

    @BeforeAll
    void writeModel() throws IOException {
        dir = ControlledAcceptanceModel.writeSamplingModel(tmp.resolve("v8"));
        model = LlamaModel.load(dir);
        // no EOS id: the language has no end within three tokens, so EOS is never needed
        constraint = Constraint.compile("test", "(a|bc|\u00e9)+",
                TokenTable.of(BYTES, false), new int[0], new LongAdder(), new LongAdder());
    }

    @AfterAll
    void close() {
        model.close();
    }

    private float[] masked(int[] generated) {
        int[] all = Arrays.copyOf(PROMPT, PROMPT.length + generated.length);
        System.arraycopy(generated, 0, all, PROMPT.length, generated.length);
        float[] logits;
        try (KvCache cache = model.newCache(1, all.length)) {
            float[][] l = model.forwardLogits(cache, 0, all, 0);
            logits = l[l.length - 1];
        }
        long s = constraint.start();
        for (int g : generated) {
            s = constraint.step(s, g);
        }
        constraint.mask(s).apply(logits);
        return Sampler.distribution(logits, T1);
    }

    /** The exact probability of every token triple under the constraint. */
    private double[] exact() {
        double[] joint = new double[VOCAB * VOCAB * VOCAB];
        float[] p1 = masked(new int[0]);
        for (int a = 0; a < VOCAB; a++) {
            if (p1[a] == 0) {
                continue;
            }
            float[] p2 = masked(new int[] {a});
            for (int b = 0; b < VOCAB; b++) {
                if (p2[b] == 0) {
                    continue;
                }
                float[] p3 = masked(new int[] {a, b});
                for (int c = 0; c < VOCAB; c++) {
                    joint[(a * VOCAB + b) * VOCAB + c] = (double) p1[a] * p2[b] * p3[c];
                }
            }
        }
        return joint;
    }

    static Stream<Arguments> cases() {
        return Stream.of(Arguments.of("ppsd", "ts", 2_000_000L), Arguments.of("eesd", "2", 3_000_000L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void firstTokensDistributedAsTheMaskedModel(String mode, String gamma, long seedBase) {
        EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, mode).with(Settings.EXIT_LAYER, 2)
                .with(Settings.EXIT_HEAD, "shared").with(Settings.STAGES, "cpu,cpu").with(Settings.BATCH_SIZE, 64)
                .with(Settings.GAMMA, gamma).with(Settings.SPECULATION, "always");
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < SEQUENCES; i++) {
            seqs.add(new Sequence(new GenerationRequest("s" + i, "x", T1.withValue(Settings.SEED, seedBase + i)),
                    PROMPT, model.config().maxPositionEmbeddings(),
                    List.of(new GuidedRule(constraint, new LongAdder(), new LongAdder()))));
        }
        long t0 = System.nanoTime();
        try (Scheduler s = SchedulerFactory.create(model, o)) {
            s.run(seqs, new StopCriteria(Set.of(), null));
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        long[] counts = new long[VOCAB * VOCAB * VOCAB];
        long proposed = 0;
        long accepted = 0;
        for (Sequence s : seqs) {
            int[] g = s.generated();
            assertEquals(TOKENS, g.length);
            counts[(g[0] * VOCAB + g[1]) * VOCAB + g[2]]++;
            proposed += s.spec().draftsProposed();
            accepted += s.spec().draftsAccepted();
        }
        // a forbidden triple that occurred fails in pooled(): it has probability 0 under the masked model
        ChiSquare.Result r = ChiSquare.pooled(counts, exact(), SEQUENCES);
        int df = r.df();
        double x = r.statistic();
        double critical = ChiSquare.criticalValue(df, ALPHA);
        System.out.printf("[GuidedSamplingTest] %-5s chi2 = %7.2f  df = %2d  critical = %6.2f  p-value %.3f  acceptance"
                + " %.3f (%d / %d)  %.0f ms%n", mode, x, df, critical, ChiSquare.survival(x, df),
                proposed == 0 ? Double.NaN : (double) accepted / proposed, accepted, proposed, ms);
        assertTrue(df >= 10, "enough cells: " + df);
        assertTrue(x < critical, mode + ": chi2 " + x + " >= " + critical + " (df " + df + ")");
        if (!mode.equals("ar")) {
            assertTrue(accepted > 0.2 * proposed && accepted < 0.95 * proposed, mode + ": mixed verdicts "
                    + accepted + " / " + proposed);
        }
    }
}
