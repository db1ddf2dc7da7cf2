package dev.ppsd.engine.schedule;

import dev.ppsd.engine.decode.Sequence;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * The unfinished sequences of a batch in arrival order, with the KV cache size they need: the longest
 * prompt + budget (clamped to the context) + {@code lookahead} positions (drafts in flight), capped by the model's context, and the
 * number of cache slots ({@code maxBatch}, or fewer when fewer sequences wait).
 */
record WorkQueue(Deque<Sequence> waiting, int cacheLen, int slots) {
    static WorkQueue of(List<Sequence> sequences, int lookahead, int context, int maxBatch) {
        Deque<Sequence> waiting = new ArrayDeque<>();
        int maxLen = 1;
        for (Sequence s : sequences) {
            if (!s.finished()) {
                waiting.add(s);
                maxLen = Math.max(maxLen, s.promptIds().length + s.budget() + lookahead); // <= context + lookahead
            }
        }
        return new WorkQueue(waiting, Math.min(maxLen, context), Math.min(maxBatch, Math.max(1, waiting.size())));
    }
}
