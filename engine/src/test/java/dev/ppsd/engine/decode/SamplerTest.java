package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The warping every scheduler shares ({@link Sampler#distribution}), checked against hand-computed tables in
 * Hugging Face's order: temperature, then top-k, then top-p (top-p over the distribution renormalised after
 * top-k, keeping the smallest prefix whose mass reaches p, at least one token); the greedy one-hot; the
 * inverse-CDF draw; and seeded reproducibility.
 */
class SamplerTest {
    /** Logits whose softmax at temperature 1 is exactly (up to float rounding) [0.5, 0.3, 0.15, 0.05]. */
    private static final float[] LN = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.15),
        (float) Math.log(0.05)};

    private static SamplingParams params(float temperature, int topK, float topP) {
        return SamplingParams.greedy(16).withValue(Settings.TEMPERATURE, temperature).withValue(Settings.TOP_K, topK).withValue(Settings.TOP_P, topP);
    }

    private static double[] softmax(double[] l, double t) {
        double max = Arrays.stream(l).max().orElseThrow();
        double[] e = Arrays.stream(l).map(x -> Math.exp((x - max) / t)).toArray();
        double s = Arrays.stream(e).sum();
        return Arrays.stream(e).map(x -> x / s).toArray();
    }

    /** Renormalises {@code p} over the tokens of {@code keep}. */
    private static double[] keepOnly(double[] p, int... keep) {
        double[] out = new double[p.length];
        double s = 0;
        for (int i : keep) {
            s += p[i];
        }
        for (int i : keep) {
            out[i] = p[i] / s;
        }
        return out;
    }

    static Stream<Arguments> warpTable() {
        double[] base = {0.5, 0.3, 0.15, 0.05};
        double[] t2 = softmax(new double[] {Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)}, 2);
        double[] l = {1.0, 3.0, -0.5, 2.0, 0.0};
        return Stream.of(
                // name, logits, temperature, top_k, top_p, expected distribution
                Arguments.of("T=1 is softmax", LN, 1f, 0, 1f, base),
                Arguments.of("T=0.5 sharpens: softmax(2 logits)", new float[] {1f, 3f, -0.5f, 2f, 0f}, 0.5f, 0, 1f,
                        softmax(l, 0.5)),
                Arguments.of("T=2 flattens: softmax(logits / 2)", new float[] {1f, 3f, -0.5f, 2f, 0f}, 2f, 0, 1f,
                        softmax(l, 2)),
                Arguments.of("top_k=2 keeps the two largest, renormalised", LN, 1f, 2, 1f, keepOnly(base, 0, 1)),
                Arguments.of("top_k=1 is one-hot", LN, 1f, 1, 1f, new double[] {1, 0, 0, 0}),
                Arguments.of("top_k >= vocab keeps everything", LN, 1f, 10, 1f, base),
                Arguments.of("top_p=0.75: 0.5 < 0.75 <= 0.8, two tokens", LN, 1f, 0, 0.75f, keepOnly(base, 0, 1)),
                Arguments.of("top_p=0.85: three tokens", LN, 1f, 0, 0.85f, keepOnly(base, 0, 1, 2)),
                Arguments.of("top_p=0.4: the first token alone reaches it", LN, 1f, 0, 0.4f,
                        new double[] {1, 0, 0, 0}),
                Arguments.of("top_p=0.01: at least one token", LN, 1f, 0, 0.01f, new double[] {1, 0, 0, 0}),
                Arguments.of("top_p=0.99: all four", LN, 1f, 0, 0.99f, base),
                // temperature first: at T=2 the probabilities are [0.379, 0.293, 0.207, 0.120], so top_p=0.75
                // needs three tokens (it would need two if top-p ran before temperature)
                Arguments.of("temperature before top-p", LN, 2f, 0, 0.75f, keepOnly(t2, 0, 1, 2)),
                // top-k then top-p over the renormalised top-k [0.625, 0.375]: 0.625 >= 0.6, one token (HF masks
                // the logits with top-k, then takes the softmax of what is left for top-p)
                Arguments.of("top-p over the top-k renormalised distribution", LN, 1f, 2, 0.6f,
                        new double[] {1, 0, 0, 0}),
                Arguments.of("top_k=3 then top_p=0.9 of [0.526, 0.316, 0.158]", LN, 1f, 3, 0.9f,
                        keepOnly(base, 0, 1, 2)),
                Arguments.of("top_k=3 then top_p=0.8 of [0.526, 0.316, 0.158]: two tokens", LN, 1f, 3, 0.8f,
                        keepOnly(base, 0, 1)),
                Arguments.of("all three: T=2, top_k=3, top_p=0.6 of [0.431, 0.333, 0.236]", LN, 2f, 3, 0.6f,
                        keepOnly(t2, 0, 1)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("warpTable")
    void warpedDistributionMatchesTheTable(String name, float[] logits, float temperature, int topK, float topP,
            double[] expected) {
        float[] got = Sampler.distribution(logits, params(temperature, topK, topP));
        assertEquals(expected.length, got.length);
        double sum = 0;
        for (int i = 0; i < got.length; i++) {
            assertEquals(expected[i], got[i], 1e-6, name + ": token " + i + " of " + Arrays.toString(got));
            sum += got[i];
        }
        assertEquals(1.0, sum, 1e-6, "the warped distribution sums to 1");
    }

    @Test
    void topKAndTopPKeepWhatAFullSortKeeps() {
        // the reference sorts the whole vocabulary (as the sampler once did: 31 ms a distribution at 128k tokens);
        // the sampler selects with heaps and must keep the same tokens with the same probabilities, bit for bit
        java.util.SplittableRandom r = new java.util.SplittableRandom(7);
        int cases = 0;
        for (int vocab : new int[] {1, 2, 3, 7, 64, 1000, 4096}) {
            for (int round = 0; round < 6; round++) {
                float[] logits = new float[vocab];
                for (int i = 0; i < vocab; i++) {
                    // rounds 0-1 have many exact ties (quantized logits), the others a long tail
                    logits[i] = round < 2 ? r.nextInt(4) : (float) (r.nextGaussian() * (1 + round));
                }
                for (int topK : new int[] {0, 1, 2, 5, 50, vocab - 1, vocab, vocab + 3}) {
                    for (float topP : new float[] {1f, 0.95f, 0.9f, 0.5f, 0.01f}) {
                        if (topK < 0 || topK == 0 && topP == 1f) {
                            continue;
                        }
                        SamplingParams p = params(0.7f + round * 0.2f, topK, topP);
                        float[] want = sortedReference(logits, p);
                        float[] got = Sampler.distribution(logits, p);
                        assertArrayEquals(want, got, "vocab " + vocab + " round " + round + " top_k " + topK
                                + " top_p " + topP);
                        cases++;
                    }
                }
            }
        }
        assertTrue(cases > 1000, "cases " + cases);
    }

    /**
     * The warped distribution with the whole vocabulary sorted (the sampler's former code) after the sampler's softmax,
     * cut by its top-p.
     */
    private static float[] sortedReference(float[] logits, SamplingParams p) {
        double[] e = Sampler.tempered(logits, p);
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> e[b] != e[a] ? Double.compare(e[b], e[a]) : Integer.compare(a, b));
        int topK = p.get(Settings.TOP_K);
        int keep = topK > 0 ? Math.min(topK, order.length) : order.length;
        int[] first = Arrays.stream(order).limit(keep).mapToInt(Integer::intValue).toArray();
        return Sampler.keepPrefix(e, first, p.get(Settings.TOP_P));
    }

    @Test
    void topKBreaksTiesTowardsTheLowerIndex() {
        float[] got = Sampler.distribution(new float[] {1f, 2f, 2f, 0f}, params(1f, 1, 1f));
        assertArrayEquals(new float[] {0, 1, 0, 0}, got);
    }

    @Test
    void greedyIsOneHotAtTheArgmax() {
        assertArrayEquals(new float[] {0, 0, 1, 0}, Sampler.distribution(new float[] {1f, 2f, 5f, -3f},
                SamplingParams.greedy(4)));
        // ties: the lowest index, like torch.argmax
        assertArrayEquals(new float[] {0, 1, 0, 0}, Sampler.distribution(new float[] {1f, 7f, 7f, 7f},
                SamplingParams.greedy(4)));
        assertEquals(1, Sampler.argmax(new float[] {1f, 7f, 7f, 7f}));
        assertEquals(2, Sampler.sample(new float[] {1f, 2f, 5f, -3f}, SamplingParams.greedy(4),
                new SplittableRandom(3)));
    }

    static Stream<Arguments> drawTable() {
        float[] p = {0.2f, 0f, 0.5f, 0.3f};
        return Stream.of(
                Arguments.of(p, 0.0, 0), Arguments.of(p, 0.1999, 0), Arguments.of(p, 0.2001, 2),
                Arguments.of(p, 0.6999, 2), Arguments.of(p, 0.7001, 3), Arguments.of(p, 0.999999, 3),
                // u exactly at a boundary followed by a zero-mass token: the zero token is never drawn
                Arguments.of(new float[] {0.5f, 0f, 0.5f}, 0.5, 2),
                // mass short of 1 (rounding): u past the summed mass gives the last token with mass
                Arguments.of(new float[] {0.3f, 0.3f, 0f}, 0.9, 1),
                Arguments.of(new float[] {0f, 0f, 1f, 0f}, 0.0, 2));
    }

    @ParameterizedTest(name = "draw({0}, u={1}) = {2}")
    @MethodSource("drawTable")
    void drawIsInverseCdf(float[] probs, double u, int expected) {
        assertEquals(expected, Sampler.draw(probs, u));
    }

    @Test
    void sameSeedSameTokensDifferentSeedDifferentTokens() {
        float[] logits = {0.3f, 1.1f, -0.2f, 0.9f, 0.5f, 0.0f, 1.4f, -1.0f};
        SamplingParams p = params(1f, 0, 1f);
        int[] a = sampleRun(logits, p, 42);
        int[] b = sampleRun(logits, p, 42);
        int[] c = sampleRun(logits, p, 43);
        assertArrayEquals(a, b);
        assertNotEquals(Arrays.toString(a), Arrays.toString(c));
    }

    private static int[] sampleRun(float[] logits, SamplingParams p, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] out = new int[64];
        for (int i = 0; i < out.length; i++) {
            out[i] = Sampler.sample(logits, p, rng);
        }
        return out;
    }

    @Test
    void sampledFrequenciesFollowTheWarpedDistribution() {
        // 100k draws at T=1 from [0.5, 0.3, 0.15, 0.05]: binomial sd <= 0.0016, tolerance 0.01
        SplittableRandom rng = new SplittableRandom(9);
        long[] counts = new long[4];
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            counts[Sampler.sample(LN, params(1f, 0, 1f), rng)]++;
        }
        double[] want = {0.5, 0.3, 0.15, 0.05};
        for (int i = 0; i < 4; i++) {
            assertEquals(want[i], counts[i] / (double) n, 0.01, "token " + i);
        }
    }
}
