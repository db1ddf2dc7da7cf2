package dev.ppsd.engine.decode;

import java.util.Set;

/** {@code min_new_tokens}: the tokens that would end the text (EOS, stop token ids) are masked until then. */
public record HoldBackEnd(int minNewTokens, Set<Integer> ends) implements LogitsRule {
    @Override
    public void apply(float[] logits, TokenHistory h) {
        if (h.generatedLength() < minNewTokens) {
            for (int t : ends) {
                if (t < logits.length) {
                    logits[t] = Float.NEGATIVE_INFINITY;
                }
            }
        }
    }
}
