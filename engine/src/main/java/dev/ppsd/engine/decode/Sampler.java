package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.Settings;

import dev.ppsd.engine.settings.SamplingParams;

import java.util.Arrays;

/**
 * The one sampler every scheduler uses: turns logits into the warped next-token distribution
 * (temperature, then top-k, then top-p, as in Hugging Face) and draws from it with a caller-supplied
 * uniform number, so the random stream stays with the sequence. Greedy is the one-hot argmax.
 */
public final class Sampler {
    private Sampler() {
    }

    /** Index of the largest logit (lowest index on ties, like torch.argmax). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The distribution the sequence samples from, after temperature / top-k / top-p warping. */
    public static float[] distribution(float[] logits, SamplingParams p) {
        float[] probs = new float[logits.length];
        if (p.isGreedy()) {
            probs[argmax(logits)] = 1f;
            return probs;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        float temperature = (float) (double) p.get(Settings.TEMPERATURE);
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp((logits[i] - max) / temperature);
            sum += e[i];
        }
        for (int i = 0; i < logits.length; i++) {
            e[i] /= sum;
        }
        int topK = p.get(Settings.TOP_K);
        double topP = p.get(Settings.TOP_P);
        if (topK > 0 || topP < 1) {
            Integer[] order = new Integer[logits.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> e[b] != e[a] ? Double.compare(e[b], e[a]) : Integer.compare(a, b));
            int keep = topK > 0 ? Math.min(topK, order.length) : order.length;
            if (topP < 1) {
                // keep the smallest prefix whose mass reaches top_p (at least one token); the mass is measured
                // on the distribution renormalised after top-k, as HF's TopPLogitsWarper takes the softmax of
                // the top-k-masked logits
                double topKMass = 0;
                for (int i = 0; i < keep; i++) {
                    topKMass += e[order[i]];
                }
                double cum = 0;
                int n = 0;
                while (n < keep) {
                    cum += e[order[n]];
                    n++;
                    if (cum >= (float) topP * topKMass) {
                        break;
                    }
                }
                keep = n;
            }
            double kept = 0;
            for (int i = 0; i < keep; i++) {
                kept += e[order[i]];
            }
            for (int i = 0; i < keep; i++) {
                probs[order[i]] = (float) (e[order[i]] / kept);
            }
            return probs;
        }
        for (int i = 0; i < logits.length; i++) {
            probs[i] = (float) e[i];
        }
        return probs;
    }

    /** The next token: argmax when greedy, else a draw from the warped distribution using {@code rng}. */
    public static int sample(float[] logits, SamplingParams p, java.util.SplittableRandom rng) {
        return p.isGreedy() ? argmax(logits) : draw(distribution(logits, p), rng.nextDouble());
    }

    /** Inverse-CDF draw from {@code probs} with a uniform {@code u} in [0, 1). */
    public static int draw(float[] probs, double u) {
        double cum = 0;
        int last = -1;
        for (int i = 0; i < probs.length; i++) {
            if (probs[i] > 0) {
                cum += probs[i];
                last = i;
                if (u < cum) {
                    return i;
                }
            }
        }
        return last; // rounding: u beyond the summed mass
    }
}
