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
        if (p.isGreedy()) {
            float[] probs = new float[logits.length];
            probs[argmax(logits)] = 1f;
            return probs;
        }
        double[] e = tempered(logits, p);
        int topK = p.get(Settings.TOP_K);
        double topP = p.get(Settings.TOP_P);
        if (topK > 0) {
            // top-k's first k tokens, selected without sorting the vocabulary, then top-p among them
            return keepPrefix(e, first(e, Math.min(topK, e.length)), topP);
        }
        if (topP < 1) {
            double mass = 0;
            for (double x : e) {
                mass += x;
            }
            return keepPrefix(e, prefixReaching(e, (float) topP * mass), 1);
        }
        float[] probs = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            probs[i] = (float) e[i];
        }
        return probs;
    }

    /**
     * The distribution over the tokens of {@code order} (in {@link #before} order) that top-p keeps: the smallest
     * prefix whose mass reaches {@code topP} of theirs (at least one token; the mass is measured on the distribution
     * renormalised after top-k, as HF's TopPLogitsWarper takes the softmax of the top-k-masked logits), renormalised.
     */
    static float[] keepPrefix(double[] e, int[] order, double topP) {
        int keep = order.length;
        if (topP < 1) {
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
        float[] probs = new float[e.length];
        for (int i = 0; i < keep; i++) {
            probs[order[i]] = (float) (e[order[i]] / kept);
        }
        return probs;
    }

    /** The softmax of {@code logits} at the sequence's temperature (before top-k / top-p). */
    static double[] tempered(float[] logits, SamplingParams p) {
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
        return e;
    }

    /** Whether token {@code a} comes before {@code b} in top-k / top-p order: more probable, else the lower id. */
    private static boolean before(double[] e, int a, int b) {
        int c = Double.compare(e[a], e[b]);
        return c > 0 || c == 0 && a < b;
    }

    /** The first {@code k} tokens in {@link #before} order, in that order: a k-heap over the vocabulary, then sorted. */
    static int[] first(double[] e, int k) {
        int[] heap = new int[k]; // the root is the one that comes last of those kept so far
        int n = 0;
        for (int i = 0; i < e.length; i++) {
            if (n < k) {
                heap[n] = i;
                for (int c = n++; c > 0 && before(e, heap[(c - 1) / 2], heap[c]); c = (c - 1) / 2) {
                    swap(heap, c, (c - 1) / 2);
                }
            } else if (before(e, i, heap[0])) {
                heap[0] = i;
                siftDown(e, heap, 0, k, true);
            }
        }
        int[] order = new int[n];
        for (int end = n - 1; end >= 0; end--) { // the last one out of the heap goes last
            order[end] = heap[0];
            heap[0] = heap[end];
            siftDown(e, heap, 0, end, true);
        }
        return order;
    }

    /**
     * The tokens in {@link #before} order up to the first whose cumulative mass reaches {@code target} (all of them
     * if none does): a heap of the vocabulary, emptied only as far as needed.
     */
    static int[] prefixReaching(double[] e, double target) {
        int n = e.length;
        int[] heap = new int[n]; // the root is the one that comes first
        for (int i = 0; i < n; i++) {
            heap[i] = i;
        }
        for (int i = n / 2 - 1; i >= 0; i--) {
            siftDown(e, heap, i, n, false);
        }
        int[] order = new int[n];
        double cum = 0;
        int taken = 0;
        while (taken < n) {
            order[taken++] = heap[0];
            cum += e[heap[0]];
            if (cum >= target) {
                break;
            }
            heap[0] = heap[n - taken];
            siftDown(e, heap, 0, n - taken, false);
        }
        return Arrays.copyOf(order, taken);
    }

    /** Restores the heap {@code heap[0, size)} below {@code i}: the last-in-order on top, else the first. */
    private static void siftDown(double[] e, int[] heap, int i, int size, boolean lastOnTop) {
        while (true) {
            int top = i;
            for (int c = 2 * i + 1; c <= 2 * i + 2 && c < size; c++) {
                if (lastOnTop ? before(e, heap[top], heap[c]) : before(e, heap[c], heap[top])) {
                    top = c;
                }
            }
            if (top == i) {
                return;
            }
            swap(heap, i, top);
            i = top;
        }
    }

    private static void swap(int[] a, int i, int j) {
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
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
