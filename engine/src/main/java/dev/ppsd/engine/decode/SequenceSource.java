package dev.ppsd.engine.decode;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * Where a scheduler takes its sequences from while it runs: a live source, so a slot is refilled as soon as its
 * sequence ends (continuous batching), and where it reports each finished one. A scheduler's run ends when no
 * sequence is in flight and the source has none waiting.
 */
public interface SequenceSource {
    /** The next sequence to start, or null when none waits now. */
    Sequence poll();

    /** {@code s} finished (its result is complete). */
    void finished(Sequence s);

    /** The unfinished sequences of {@code sequences}, in order, as a source that ends with them. */
    static SequenceSource of(List<Sequence> sequences) {
        Deque<Sequence> waiting = new ArrayDeque<>();
        for (Sequence s : sequences) {
            if (!s.finished()) {
                waiting.add(s);
            }
        }
        return new SequenceSource() {
            @Override
            public Sequence poll() {
                return waiting.poll();
            }

            @Override
            public void finished(Sequence s) {
            }
        };
    }
}
