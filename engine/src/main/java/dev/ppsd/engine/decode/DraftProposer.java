package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;

import java.util.SplittableRandom;

/**
 * The one way a draft is made from the drafter's logits, shared by EESD and the PPSD pipeline: the draft
 * distribution {@code q} warped exactly as the target's will be (null when greedy) and the draft drawn from it with
 * the sequence's own random stream (the argmax when greedy).
 */
public final class DraftProposer {
    private DraftProposer() {
    }

    /** A proposed draft token and the warped distribution it was drawn from (null when greedy). */
    public record Draft(int token, float[] q) {
    }

    /** Proposes the draft for the next position from the drafter's logits. */
    public static Draft propose(float[] draftLogits, SamplingParams params, SplittableRandom rng) {
        if (params.isGreedy()) {
            return new Draft(Sampler.argmax(draftLogits), null);
        }
        float[] q = Sampler.distribution(draftLogits, params);
        return new Draft(Sampler.draw(q, rng.nextDouble()), q);
    }
}
