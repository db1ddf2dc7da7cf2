package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;

import java.util.SplittableRandom;

/**
 * The pure acceptance rule shared by every speculative scheduler (vLLM's rejection sampler, one draft at a
 * time). Glossary, used the same way in fields, metrics and tests:
 * <ul>
 *   <li><b>draft</b>: a token proposed by the early-exit head from its distribution {@code q};</li>
 *   <li><b>target</b>: the full model's distribution {@code p} for the same position;</li>
 *   <li><b>accepted</b>: the draft passed the rule and is committed as it is;</li>
 *   <li><b>correction</b>: the token committed instead of a rejected draft, drawn from
 *       {@code normalise(max(0, p - q))} (from {@code p} when that has no mass; the argmax when greedy);</li>
 *   <li><b>bonus</b>: (EESD only) a token drawn from {@code p} after every draft of a round was accepted;</li>
 *   <li><b>committed</b>: part of the output; never changes again.</li>
 * </ul>
 * Greedy: accept iff the draft is the target's argmax. Sampling: accept with probability
 * {@code min(1, p(d)/q(d))}. Both keep the output distribution identical to plain AR decoding.
 */
public final class Verifier {
    private Verifier() {
    }

    /** The outcome for one draft: accepted, or the correction to commit. */
    public record Verdict(boolean accepted, int token) {
    }

    /**
     * Judges draft {@code draft} given the target logits, the warped draft distribution {@code q} (null when
     * greedy) and the sequence's params and random stream.
     */
    public static Verdict verify(int draft, float[] targetLogits, float[] q, SamplingParams params,
            SplittableRandom rng) {
        if (params.isGreedy()) {
            int best = Sampler.argmax(targetLogits);
            return new Verdict(best == draft, best);
        }
        return verify(draft, Sampler.distribution(targetLogits, params), q, rng);
    }

    /** The sampling rule on warped distributions {@code p} (target) and {@code q} (draft). */
    public static Verdict verify(int draft, float[] p, float[] q, SplittableRandom rng) {
        double pd = p[draft];
        double qd = q[draft];
        double u = rng.nextDouble();
        if (qd > 0 && u < Math.min(1.0, pd / qd)) {
            return new Verdict(true, draft);
        }
        float[] residual = new float[p.length];
        double mass = 0;
        for (int i = 0; i < p.length; i++) {
            float r = Math.max(0f, p[i] - q[i]);
            residual[i] = r;
            mass += r;
        }
        if (mass <= 0) {
            return new Verdict(false, Sampler.draw(p, rng.nextDouble()));
        }
        for (int i = 0; i < residual.length; i++) {
            residual[i] = (float) (residual[i] / mass);
        }
        return new Verdict(false, Sampler.draw(residual, rng.nextDouble()));
    }
}
