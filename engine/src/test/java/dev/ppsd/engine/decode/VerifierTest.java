package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The pure acceptance rule ({@link Verifier}) on hand-built logits and distributions, in the style of vLLM's
 * {@code test_rejection_sampler.py}: greedy tables, sampling edge cases run over many random draws, and a
 * chi-square test that the committed token (accepted draft or correction) is distributed exactly as the target
 * {@code p} when the draft is drawn from {@code q}.
 */
class VerifierTest {
    private static final SamplingParams GREEDY = SamplingParams.greedy(16);
    private static final SamplingParams T1 = SamplingParams.greedy(16).withValue(Settings.TEMPERATURE, 1f);

    // ------------------------------------------------------------------ greedy

    static Stream<Arguments> greedyTable() {
        return Stream.of(
                // name, target logits, draft, accepted?, committed token
                Arguments.of("draft is the argmax: accepted", new float[] {0.1f, 2.5f, -1f, 0.3f}, 1, true, 1),
                Arguments.of("draft is the runner-up: correction = argmax", new float[] {0.1f, 2.5f, -1f, 2.4f}, 3,
                        false, 1),
                Arguments.of("draft is the least likely: correction = argmax", new float[] {5f, 0f, -3f, 1f}, 2, false,
                        0),
                Arguments.of("argmax is the last token", new float[] {-1f, -2f, -3f, 7f}, 3, true, 3),
                Arguments.of("tie: the lowest index is the target (torch.argmax)", new float[] {0f, 4f, 4f, 1f}, 2,
                        false, 1),
                Arguments.of("tie: the lowest index is accepted", new float[] {0f, 4f, 4f, 1f}, 1, true, 1),
                Arguments.of("negative logits", new float[] {-9f, -8.5f, -10f}, 1, true, 1));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("greedyTable")
    void greedyDraftAcceptedOrCorrectionIsTargetArgmax(String name, float[] target, int draft, boolean accepted,
            int committed) {
        Verifier.Verdict v = Verifier.verify(draft, target, null, GREEDY, new SplittableRandom(1));
        assertEquals(new Verifier.Verdict(accepted, committed), v);
    }

    @Test
    void greedyPerfectMatchOfADraftSequenceAcceptsEveryDraft() {
        // vLLM "perfect match": drafts [3, 0, 2] against targets whose argmaxes are [3, 0, 2]
        float[][] targets = {{0, 0, 0, 1}, {2, 1, 0, 0}, {0, 1, 3, 2}};
        int[] drafts = {3, 0, 2};
        for (int i = 0; i < drafts.length; i++) {
            assertEquals(new Verifier.Verdict(true, drafts[i]),
                    Verifier.verify(drafts[i], targets[i], null, GREEDY, new SplittableRandom(i)));
        }
    }

    @Test
    void greedyEarlyMismatchRejectsAtTheFirstDifferentDraft() {
        // vLLM "early mismatch": drafts [3, 1, 2] against argmaxes [3, 0, 2]: accept, reject with correction 0
        float[][] targets = {{0, 0, 0, 1}, {2, 1, 0, 0}, {0, 1, 3, 2}};
        int[] drafts = {3, 1, 2};
        int accepted = 0;
        int correction = -1;
        for (int i = 0; i < drafts.length; i++) {
            Verifier.Verdict v = Verifier.verify(drafts[i], targets[i], null, GREEDY, new SplittableRandom(i));
            if (!v.accepted()) {
                correction = v.token();
                break;
            }
            accepted++;
        }
        assertEquals(1, accepted);
        assertEquals(0, correction);
    }

    @Test
    void greedyVerdictDoesNotConsumeTheRandomStream() {
        SplittableRandom a = new SplittableRandom(5);
        Verifier.verify(1, new float[] {0, 1}, null, GREEDY, a);
        assertEquals(new SplittableRandom(5).nextLong(), a.nextLong(), "greedy verification drew random numbers");
    }

    @Test
    void greedyDraftIsTheDraftLogitsArgmax() {
        assertEquals(2, DraftProposer.propose(new float[] {0, 1, 3, 2}, GREEDY, new SplittableRandom(1)).token());
    }

    // ------------------------------------------------------------------ sampling edge cases

    private static final int DRAWS = 20_000;

    @Test
    void samplingDraftAlwaysAcceptedWhenPEqualsQ() {
        float[] p = {0.1f, 0.2f, 0.3f, 0.4f};
        SplittableRandom rng = new SplittableRandom(11);
        for (int i = 0; i < DRAWS; i++) {
            int d = Sampler.draw(p, rng.nextDouble());
            assertEquals(new Verifier.Verdict(true, d), Verifier.verify(d, p, p.clone(), rng));
        }
    }

    @Test
    void samplingDraftAlwaysAcceptedWhenTargetGivesItMoreMass() {
        float[] p = {0.1f, 0.6f, 0.3f};
        float[] q = {0.5f, 0.2f, 0.3f};
        SplittableRandom rng = new SplittableRandom(12);
        for (int d : new int[] {1, 2}) { // p(d) >= q(d): min(1, p/q) = 1
            for (int i = 0; i < DRAWS / 4; i++) {
                assertEquals(new Verifier.Verdict(true, d), Verifier.verify(d, p, q, rng));
            }
        }
    }

    @Test
    void samplingDraftAlwaysRejectedWhenTargetGivesItNoMass() {
        // q(d) > 0 and p(d) = 0: never accepted, and the correction is never d
        float[] p = {0.5f, 0.0f, 0.5f, 0.0f};
        float[] q = {0.2f, 0.5f, 0.2f, 0.1f};
        SplittableRandom rng = new SplittableRandom(13);
        long[] corrections = new long[4];
        for (int i = 0; i < DRAWS; i++) {
            int d = i % 2 == 0 ? 1 : 3;
            Verifier.Verdict v = Verifier.verify(d, p, q, rng);
            assertFalse(v.accepted(), "a draft the target gives no mass was accepted");
            assertNotEquals(d, v.token(), "the correction repeated the rejected draft");
            corrections[v.token()]++;
        }
        // the correction comes from normalise(max(0, p - q)) = [0.5, 0, 0.5, 0]
        assertEquals(0, corrections[1] + corrections[3]);
        assertEquals(0.5, corrections[0] / (double) DRAWS, 0.02);
    }

    @Test
    void samplingAcceptanceProbabilityIsPOverQ() {
        // p(d) / q(d) = 0.2 / 0.5 = 0.4; binomial sd at 20k draws = 0.0035, tolerance 0.02 is > 5 sd
        float[] p = {0.2f, 0.8f};
        float[] q = {0.5f, 0.5f};
        SplittableRandom rng = new SplittableRandom(14);
        int accepted = 0;
        for (int i = 0; i < DRAWS; i++) {
            Verifier.Verdict v = Verifier.verify(0, p, q, rng);
            if (v.accepted()) {
                accepted++;
                assertEquals(0, v.token());
            } else {
                assertEquals(1, v.token(), "the residual max(0, p - q) = [0, 0.3] has one token");
            }
        }
        assertEquals(0.4, accepted / (double) DRAWS, 0.02);
    }

    @Test
    void samplingResidualWithNoMassFallsBackToTheTarget() {
        // a draft outside q's support (q(d) = 0, e.g. cut by top-k) is rejected; with p == q the residual
        // max(0, p - q) is all zero, so the correction is drawn from p itself
        float[] p = {0.25f, 0.75f, 0f};
        SplittableRandom rng = new SplittableRandom(15);
        long ones = 0;
        for (int i = 0; i < DRAWS; i++) {
            Verifier.Verdict v = Verifier.verify(2, p, p.clone(), rng);
            assertFalse(v.accepted());
            assertTrue(v.token() == 0 || v.token() == 1, "correction outside p's support: " + v.token());
            ones += v.token();
        }
        assertEquals(0.75, ones / (double) DRAWS, 0.02);
    }

    @Test
    void samplingVerdictUsesTheWarpedTargetFromLogits() {
        // temperature 1: p = softmax(logits); with q = p the draft is always accepted
        float[] logits = {1f, 2f, 0.5f};
        float[] p = Sampler.distribution(logits, T1);
        SplittableRandom rng = new SplittableRandom(16);
        for (int i = 0; i < 2000; i++) {
            int d = DraftProposer.propose(logits, T1, rng).token();
            assertEquals(new Verifier.Verdict(true, d), Verifier.verify(d, logits, p, T1, rng));
        }
    }

    // ------------------------------------------------------------------ statistical: committed ~ p

    /**
     * Two chi-square tests share a false-failure budget of 1e-4 (Bonferroni), 5e-5 each. Both have 5 cells
     * with positive target mass, so df = 4 and the critical value is chi2.isf(5e-5, 4) = 25.013 (scipy; also
     * recomputed by {@link ChiSquare#criticalValue}). The seeds are fixed, so the test is deterministic; the rate
     * is the chance that a correct verifier fails for a random choice of seed.
     */
    private static final double ALPHA = 5e-5;
    private static final int DF = 4;
    private static final double CRITICAL = 25.013;
    private static final int TRIALS = 200_000;

    private static double committedChiSquare(float[] p, float[] q, long seed, String label) {
        assertEquals(CRITICAL, ChiSquare.criticalValue(DF, ALPHA), 1e-3);
        SplittableRandom rng = new SplittableRandom(seed);
        long[] counts = new long[p.length];
        long accepted = 0;
        for (int i = 0; i < TRIALS; i++) {
            int d = Sampler.draw(q, rng.nextDouble()); // draft ~ q
            Verifier.Verdict v = Verifier.verify(d, p, q, rng);
            if (v.accepted()) {
                accepted++;
                assertEquals(d, v.token());
            }
            counts[v.token()]++;
        }
        double[] expected = new double[p.length];
        double overlap = 0;
        for (int i = 0; i < p.length; i++) {
            expected[i] = p[i] * (double) TRIALS;
            overlap += Math.min(p[i], q[i]);
        }
        double x = ChiSquare.statistic(counts, expected);
        // acceptance rate = sum_x min(p, q) (Leviathan et al.); binomial sd <= 0.0012, tolerance 0.01
        double rate = accepted / (double) TRIALS;
        System.out.printf("[VerifierTest] %s: committed counts %s vs expected %s; chi2 = %.3f (df %d, critical"
                + " %.3f at alpha %.0e); acceptance %.4f (expected %.4f)%n", label, java.util.Arrays.toString(counts),
                java.util.Arrays.toString(java.util.Arrays.stream(expected).mapToLong(Math::round).toArray()), x, DF,
                CRITICAL, ALPHA, rate, overlap);
        assertEquals(overlap, rate, 0.01, "acceptance rate");
        assertTrue(x < CRITICAL, label + ": committed tokens are not distributed as p: chi2 " + x + " >= " + CRITICAL);
        return x;
    }

    @Test
    void samplingCommittedTokenIsDistributedAsTarget() {
        // q puts no mass on token 3 (it can only be committed as a correction) and too much on 0 and 4
        float[] p = {0.05f, 0.40f, 0.10f, 0.30f, 0.15f};
        float[] q = {0.30f, 0.10f, 0.25f, 0.00f, 0.35f};
        committedChiSquare(p, q, 20240601L, "p vs q (disjoint-ish)");
    }

    @Test
    void samplingCommittedTokenIsDistributedAsTargetWhenDraftIsClose() {
        float[] p = {0.22f, 0.18f, 0.20f, 0.25f, 0.15f};
        float[] q = {0.20f, 0.20f, 0.20f, 0.20f, 0.20f};
        committedChiSquare(p, q, 777L, "p close to q");
    }
}
