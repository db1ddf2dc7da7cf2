package dev.ppsd.engine.decode;

/**
 * A token's log-probability at its position and the most likely alternatives there (ids, texts and
 * log-probabilities, most likely first); the texts are null until the engine adds them to a result.
 */
public record TokenLogprob(int token, float logprob, int[] topTokens, float[] topLogprobs, String text,
        String[] topTexts) {
    /** This record with the texts of its tokens, decoded one token at a time by {@code decode}. */
    public TokenLogprob withTexts(java.util.function.IntFunction<String> decode) {
        String[] t = new String[topTokens.length];
        for (int i = 0; i < t.length; i++) {
            t[i] = decode.apply(topTokens[i]);
        }
        return new TokenLogprob(token, logprob, topTokens, topLogprobs, decode.apply(token), t);
    }

    /**
     * The log-probability of {@code token} under {@code probs} (a distribution) and its {@code n} most likely
     * alternatives ({@code -Infinity} for a token the distribution excludes).
     */
    public static TokenLogprob of(float[] probs, int token, int n) {
        int[] top = new int[Math.min(n, probs.length)];
        float[] topLp = new float[top.length];
        java.util.Arrays.fill(top, -1);
        for (int i = 0; i < probs.length; i++) {
            // insertion into the running top list, highest first (lowest id first on ties)
            int at = top.length;
            while (at > 0 && (top[at - 1] < 0 || probs[i] > probs[top[at - 1]])) {
                at--;
            }
            if (at < top.length) {
                System.arraycopy(top, at, top, at + 1, top.length - at - 1);
                top[at] = i;
            }
        }
        for (int i = 0; i < top.length; i++) {
            topLp[i] = (float) Math.log(probs[top[i]]);
        }
        return new TokenLogprob(token, (float) Math.log(probs[token]), top, topLp, null, null);
    }

    /** The softmax of {@code logits} at temperature 1 (the model's own distribution). */
    public static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] p = new float[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) (e[i] / sum);
        }
        return p;
    }
}
