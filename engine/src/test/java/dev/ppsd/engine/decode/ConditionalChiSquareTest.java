package dev.ppsd.engine.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * The yardstick of {@code LosslessSamplingTest}: on synthetic draws from ever-changing distributions (8 tokens,
 * some rare, some impossible, as after top-k) the statistic is calibrated — its mean is its degrees of freedom and
 * its 5% tail holds about 5% of the runs — and a 10% tilt of the draws is found.
 */
class ConditionalChiSquareTest {
    static final int V = 8;

    /** A random distribution over V tokens: softmax of N(0, 1.5^2) logits, the last two tokens cut as by top-k. */
    private static float[] distribution(SplittableRandom r) {
        float[] p = new float[V];
        double sum = 0;
        for (int v = 0; v < V - 2; v++) {
            double g = Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
            p[v] = (float) Math.exp(1.5 * g);
            sum += p[v];
        }
        for (int v = 0; v < V; v++) {
            p[v] = (float) (p[v] / sum);
        }
        return p;
    }

    /** One run: {@code draws} draws in 4 groups; with {@code tilt} > 0 token 0 is drawn (1 + tilt) times as often. */
    private static ConditionalChiSquare.Result run(SplittableRandom r, int draws, double tilt) {
        ConditionalChiSquare c = new ConditionalChiSquare(V);
        for (int i = 0; i < draws; i++) {
            float[] p = distribution(r);
            float[] drawFrom = p.clone();
            drawFrom[0] *= (float) (1 + tilt);
            double s = 0;
            for (float x : drawFrom) {
                s += x;
            }
            for (int v = 0; v < V; v++) {
                drawFrom[v] = (float) (drawFrom[v] / s);
            }
            c.add(i % 4, Sampler.draw(drawFrom, r.nextDouble()), p);
        }
        return c.result(10);
    }

    @Test
    void correctDrawsGiveAChiSquareStatistic() {
        SplittableRandom r = new SplittableRandom(7);
        int runs = 400;
        double mean = 0;
        int tail = 0;
        int df = 0;
        for (int i = 0; i < runs; i++) {
            ConditionalChiSquare.Result res = run(r, 600, 0);
            mean += res.statistic() / runs;
            tail += res.pValue() < 0.05 ? 1 : 0;
            df = res.df();
        }
        assertEquals(4 * (V - 3), df, "4 groups of 6 possible tokens, none pooled at 150 draws per group");
        // mean of chi2(20) over 400 runs: 20 +- 0.32 (sd); tail count ~ Binomial(400, 0.05) = 20 +- 4.4
        assertEquals(df, mean, 1.5, "mean statistic");
        assertTrue(tail >= 7 && tail <= 36, "runs in the 5% tail: " + tail + " of " + runs);
    }

    @Test
    void aSmallTiltIsFound() {
        ConditionalChiSquare.Result res = run(new SplittableRandom(8), 80_000, 0.1);
        assertTrue(res.pValue() < 1e-6, "p-value " + res.pValue());
    }

    @Test
    void rareTokensArePooledAndImpossibleOnesLeftOut() {
        assertArrayEquals(new int[] {0, 2, 1, 2, -1}, ConditionalChiSquare.pool(new double[] {20, 3, 15, 8, 0}, 10));
        // a rest below the minimum joins the smallest kept token
        assertArrayEquals(new int[] {0, 1, 1, -1}, ConditionalChiSquare.pool(new double[] {30, 12, 4, 0}, 10));
    }
}
