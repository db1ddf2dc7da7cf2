package dev.ppsd.engine.schedule;

/**
 * What one pipeline cycle runs; the speculation controller picks one per cycle. Each name is used the same way in
 * code, the bench's output and the docs.
 * <ul>
 *   <li>{@link #DRAFT} ({@code draft}): PPSD, the first stage drafts while the last verifies.</li>
 *   <li>{@link #AR_PIPE} ({@code ar-pipe}): plain AR with the sequences as micro-batches spread over the stages,
 *       every stage busy — what the {@code ar-pipe} mode runs every cycle.</li>
 *   <li>{@link #LOCKSTEP} ({@code lockstep}): plain AR with every sequence at the same stage, so a cycle runs one
 *       stage for all of them on the coordinator thread: batched AR over the stage split, for devices where one
 *       stage with all the rows beats two stages with half of them each (a CPU starved of memory bandwidth).</li>
 * </ul>
 */
enum Schedule {
    DRAFT("draft"), AR_PIPE("ar-pipe"), LOCKSTEP("lockstep");

    final String label;

    Schedule(String label) {
        this.label = label;
    }

    /** Whether the cycle's first stage runs the drafter for greedy sequences. */
    boolean drafts() {
        return this == DRAFT;
    }
}
