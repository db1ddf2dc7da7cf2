package dev.ppsd.engine.schedule;

import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.TinyModels;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StageCostModelTest {
    @Test
    void costsAreWeightsReadPerToken() {
        LlamaConfig c = TinyModels.config(8, 512); // hidden 64, 4 heads / 2 kv of 16, intermediate 128
        StageCostModel m = StageCostModel.of(c);
        assertEquals(64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128, m.layer(), 0);
        assertEquals(512 * 64, m.lmHead(), 0);
        assertEquals(m.lmHead() + m.layer(), m.drafter(true), 0);
        assertEquals(m.lmHead(), m.drafter(false), 0);
        assertEquals(8 * m.layer() + m.lmHead(), m.ar(8), 0);
    }

    @Test
    void theSplitMinimisesTheMostExpensiveStage() {
        // against brute force over every split, for layer / LM-head cost ratios on both sides of 1
        for (double lm : new double[] {0.3, 1.0, 1.42, 3.0}) {
            StageCostModel m = new StageCostModel(1.0, lm);
            for (int n = 2; n <= 12; n++) {
                for (int k = 2; k <= Math.min(5, n); k++) {
                    for (int e = 1; e <= n - k + 1; e++) {
                        PipelineSplit s = m.split(n, k, e);
                        assertEquals(0, s.from(0));
                        assertEquals(e, s.to(0));
                        assertEquals(n, s.to(k - 1));
                        for (int i = 0; i < k; i++) {
                            assertEquals(true, s.to(i) > s.from(i), "empty stage in " + s);
                        }
                        double best = bruteForce(m, n, k, e);
                        assertEquals(best, m.maxStage(s, 0), 1e-9, "n=" + n + " k=" + k + " e=" + e + " lm=" + lm
                                + ": " + s);
                    }
                }
            }
        }
    }

    @Test
    void withPpsdMinisRatioThreeStagesGiveTheLastStageOneLayerLess() {
        // ppsd-mini: the LM head costs 1.42 layers; after the exit at 4: [4,7) + [7,8)+LM = 3 / 2.42 (even: 2 / 3.42)
        StageCostModel m = new StageCostModel(1.0, 1.42);
        assertEquals("[0, 4, 7, 8]", m.split(8, 3, 4).toString());
        assertEquals("[0, 4, 8]", m.split(8, 2, 4).toString());
    }

    @Test
    void ppsdCostIsTheSlowestStageTimesCyclesPerToken() {
        StageCostModel m = new StageCostModel(1.0, 1.5);
        PipelineSplit s = PipelineSplit.of(8, 2, 4);
        assertEquals(5.5, m.maxStage(s, 1.5), 1e-12); // stage 0: 4 + drafter 1.5; stage 1: 4 + LM head 1.5
        assertEquals(5.5 * (0.75 + 2 * 0.25), m.ppsdPerToken(s, 1.5, 0.75), 1e-12);
    }

    private static double bruteForce(StageCostModel m, int n, int k, int e) {
        return best(m, e, n, k - 1, e * m.layer()); // stage 0 without a drafter
    }

    /** Min over splits of layers [from, n) into `parts` non-empty stages of the max stage cost, seeded by max. */
    private static double best(StageCostModel m, int from, int n, int parts, double max) {
        if (parts == 1) {
            return Math.max(max, (n - from) * m.layer() + m.lmHead());
        }
        double b = Double.POSITIVE_INFINITY;
        for (int to = from + 1; to <= n - (parts - 1); to++) {
            b = Math.min(b, best(m, to, n, parts - 1, Math.max(max, (to - from) * m.layer())));
        }
        return b;
    }
}
