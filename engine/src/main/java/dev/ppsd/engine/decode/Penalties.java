package dev.ppsd.engine.decode;

import java.util.Arrays;
import java.util.BitSet;

/**
 * The penalties on tokens already seen, as the reference implementations define them: Hugging Face's
 * {@code repetition_penalty} over the prompt and the text so far (a seen token's logit divided by R when positive,
 * multiplied by R when negative), then OpenAI's / vLLM's {@code frequency_penalty} and {@code presence_penalty} over
 * the generated text only (logit minus F times the token's count, minus P when it occurred).
 */
public record Penalties(double repetition, double presence, double frequency) implements LogitsRule {
    @Override
    public void apply(float[] logits, TokenHistory h) {
        // primitive sets and counts: this runs twice per token when drafting, over prompts of thousands of tokens
        if (repetition != 1) {
            BitSet seen = new BitSet(logits.length);
            for (int i = 0; i < h.length(); i++) {
                seen.set(h.tokenAt(i));
            }
            for (int t = seen.nextSetBit(0); t >= 0; t = seen.nextSetBit(t + 1)) {
                logits[t] = (float) (logits[t] > 0 ? logits[t] / repetition : logits[t] * repetition);
            }
        }
        if (presence != 0 || frequency != 0) {
            int[] generated = new int[h.generatedLength()];
            for (int i = 0; i < generated.length; i++) {
                generated[i] = h.tokenAt(h.promptLength() + i);
            }
            Arrays.sort(generated); // each token's occurrences side by side: its count
            int i = 0;
            while (i < generated.length) {
                int j = i + 1;
                while (j < generated.length && generated[j] == generated[i]) {
                    j++;
                }
                logits[generated[i]] -= (float) (frequency * (j - i) + presence);
                i = j;
            }
        }
    }
}
