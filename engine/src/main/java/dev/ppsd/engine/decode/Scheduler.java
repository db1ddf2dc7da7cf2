package dev.ppsd.engine.decode;

import java.util.List;

/** Decodes sequences to completion by committing tokens to each {@link Sequence}. */
public interface Scheduler extends AutoCloseable {
    /** The mode name reported in results ("ar", "eesd", "ppsd", ...). */
    String mode();

    /**
     * Runs the sequences of {@code source}, taking a new one whenever a slot frees, until none is in flight and none
     * waits; each finished one is reported to the source.
     */
    void run(SequenceSource source, StopCriteria stop);

    /**
     * Why {@code s} can never run on this scheduler (its prompt and budget need more KV cache than one sequence may
     * take), or null when it can.
     */
    default String refusal(Sequence s) {
        return null;
    }

    /** The prefix cache's lookups, lookups that reused a prefix, and prompt tokens reused (zeros without one). */
    default long[] prefixCacheCounts() {
        return new long[3];
    }

    /** Runs every sequence until it is finished. */
    default void run(List<Sequence> sequences, StopCriteria stop) {
        run(SequenceSource.of(sequences), stop);
    }

    @Override
    default void close() {
    }
}
