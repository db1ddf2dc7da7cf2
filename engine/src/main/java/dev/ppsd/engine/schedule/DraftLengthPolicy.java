package dev.ppsd.engine.schedule;

import java.util.SplittableRandom;

/**
 * Chooses the EESD draft length γ per round. Fixed γ, or Thompson sampling: keep a Beta(a, b) posterior
 * over the per-draft acceptance probability, sample θ each round and pick the γ that maximises the
 * expected speedup {@code (1 - θ^(γ+1)) / ((1 - θ)(γ c + 1))} with c = E/N the relative cost of a draft
 * step (choice: the EESD paper stops drafting at a threshold; maximising the cost model under the sampled
 * θ is the same bandit with the threshold derived from c). Accepted drafts count as successes, a rejected
 * one as a failure. The posterior is per sequence and its random stream is seeded from the sequence's
 * seed, so sampled output stays reproducible.
 */
final class DraftLengthPolicy {
    static final int MAX_GAMMA = 8;
    private final int fixed;
    private final double cost;
    private final SplittableRandom rng;
    private double a = 1;
    private double b = 1;

    private DraftLengthPolicy(int fixed, double cost, SplittableRandom rng) {
        this.fixed = fixed;
        this.cost = cost;
        this.rng = rng;
    }

    static DraftLengthPolicy of(String gamma, double cost, SplittableRandom rng) {
        return new DraftLengthPolicy(gamma.equals("ts") ? 0 : Math.min(Integer.parseInt(gamma), 64), cost, rng);
    }

    int next() {
        if (fixed > 0) {
            return fixed;
        }
        double theta = BetaSampler.sample(a, b, rng);
        return bestGamma(theta, cost);
    }

    void observe(int acceptedDrafts, boolean rejected) {
        a += acceptedDrafts;
        b += rejected ? 1 : 0;
    }

    /** The γ in [1, MAX_GAMMA] with the highest expected speedup for acceptance θ and draft cost c. */
    static int bestGamma(double theta, double c) {
        int best = 1;
        double bestS = -1;
        for (int g = 1; g <= MAX_GAMMA; g++) {
            double tokens = theta >= 1 ? g + 1 : (1 - Math.pow(theta, g + 1)) / (1 - theta);
            double s = tokens / (g * c + 1);
            if (s > bestS) {
                bestS = s;
                best = g;
            }
        }
        return best;
    }
}
