package dev.ppsd.engine.schedule;

/**
 * What one pipeline cycle runs. {@link #DRAFT}: PPSD, the first stage drafts while the last verifies.
 * {@link #PIPE}: plain AR with the sequences as micro-batches spread over the stages, every stage busy
 * ({@code ar-pipe}). {@link #SERIAL}: plain AR with every sequence in lock-step, so a cycle runs one stage for
 * all of them on the coordinator thread: batched AR over the stage split, for devices where one stage with
 * all the rows beats two stages with half of them each (a CPU starved of memory bandwidth).
 */
enum Schedule {
    DRAFT("drafts"), PIPE("pipelined"), SERIAL("lock-step");

    final String label;

    Schedule(String label) {
        this.label = label;
    }
}
