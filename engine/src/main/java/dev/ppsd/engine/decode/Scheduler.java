package dev.ppsd.engine.decode;

import java.util.List;

/** Decodes a batch of sequences to completion by committing tokens to each {@link Sequence}. */
public interface Scheduler extends AutoCloseable {
    /** The mode name reported in results ("ar", "eesd", "ppsd", ...). */
    String mode();

    /** Runs every sequence until it is finished. */
    void run(List<Sequence> sequences, StopCriteria stop);

    @Override
    default void close() {
    }
}
