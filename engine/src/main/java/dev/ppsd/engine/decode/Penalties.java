package dev.ppsd.engine.decode;

import java.util.HashMap;
import java.util.Map;

/**
 * The penalties on tokens already seen, as the reference implementations define them: Hugging Face's
 * {@code repetition_penalty} over the prompt and the text so far (a seen token's logit divided by R when positive,
 * multiplied by R when negative), then OpenAI's / vLLM's {@code frequency_penalty} and {@code presence_penalty} over
 * the generated text only (logit minus F times the token's count, minus P when it occurred).
 */
public record Penalties(double repetition, double presence, double frequency) implements LogitsRule {
    @Override
    public void apply(float[] logits, TokenHistory h) {
        Map<Integer, Integer> generated = new HashMap<>();
        for (int i = h.promptLength(); i < h.length(); i++) {
            generated.merge(h.tokenAt(i), 1, Integer::sum);
        }
        if (repetition != 1) {
            java.util.Set<Integer> seen = new java.util.HashSet<>(generated.keySet());
            for (int i = 0; i < h.promptLength(); i++) {
                seen.add(h.tokenAt(i));
            }
            for (int t : seen) {
                logits[t] = (float) (logits[t] > 0 ? logits[t] / repetition : logits[t] * repetition);
            }
        }
        if (presence != 0 || frequency != 0) {
            for (Map.Entry<Integer, Integer> e : generated.entrySet()) {
                logits[e.getKey()] -= (float) (frequency * e.getValue() + presence);
            }
        }
    }
}
