package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.TokenLogprob;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.settings.Settings;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code prompt_logprobs}: from the last layer's states of a whole prompt, the model's log-probability (temperature
 * 1, no rules) of each prompt token after the first and its most likely alternatives, a chunk of positions at a time
 * (a chunk's logits are the only ones held).
 */
final class PromptLogprobs {
    private static final int CHUNK = 64;

    private PromptLogprobs() {
    }

    /** Whether {@code s} asks for them (its prefill then runs the whole prompt: no prefix reuse). */
    static boolean wanted(Sequence s) {
        return s.params().get(Settings.PROMPT_LOGPROBS) > 0;
    }

    /** Sets them on {@code s} from {@code h [1, T, D]}, the states of the whole prompt (T its length). */
    static void compute(Sequence s, ModelRunner runner, NDArray h) {
        int[] prompt = s.promptIds();
        int n = s.params().get(Settings.PROMPT_LOGPROBS);
        List<TokenLogprob> out = new ArrayList<>(prompt.length - 1);
        for (int from = 0; from < prompt.length - 1; from += CHUNK) {
            int to = Math.min(prompt.length - 1, from + CHUNK);
            // position i predicts token i + 1: [1, T, D] -> [1, to - from, D] -> rows of logits
            float[][] rows = runner.logits(h.get(new NDIndex().addAllDim().addSliceDim(from, to).addAllDim()));
            for (int i = 0; i < rows.length; i++) {
                out.add(TokenLogprob.of(TokenLogprob.softmax(rows[i]), prompt[from + i + 1], n));
            }
        }
        s.setPromptLogprobs(out);
    }
}
