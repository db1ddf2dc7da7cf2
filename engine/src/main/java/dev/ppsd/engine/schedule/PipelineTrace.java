package dev.ppsd.engine.schedule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A per-cycle record of a pipeline run for timelines: when each stage was busy within the cycle, which entries it
 * ran, and what the verifier did after it (drafts proposed, accepted, flushes). Recording is off
 * unless {@link PipelineScheduler#trace(int)} asks for it, and keeps at most the requested number of cycles. The
 * engine's worker thread records while other threads read: {@link #cycles()} is a snapshot.
 */
public final class PipelineTrace {
    /**
     * One cycle: times in ms since the trace started; each stage's entries (how many, and their sequences' cache
     * slots in the order it ran them) and the prompt tokens it prefilled among them; the sequences in the pipeline.
     */
    public record Cycle(double startMs, double endMs, double[] stageStartMs, double[] stageEndMs, int[][] slots,
            int[] prefillTokens, int sequences, int drafted, int accepted, int flushed) {
        /** How many entries each stage ran. */
        public int[] entries() {
            return Arrays.stream(slots).mapToInt(s -> s.length).toArray();
        }
    }

    private final long origin = System.nanoTime();
    private final int capacity;
    private final List<Cycle> cycles = new ArrayList<>();

    PipelineTrace(int capacity) {
        this.capacity = capacity;
    }

    double now() {
        return (System.nanoTime() - origin) / 1e6;
    }

    double since(long nanos) {
        return (nanos - origin) / 1e6;
    }

    synchronized void add(Cycle c) {
        if (cycles.size() < capacity) {
            cycles.add(c);
        }
    }

    /**
     * The cycles recorded so far. A generate call returns when its last sequence finishes, which is before the
     * worker records that cycle, so the list may still grow by one.
     */
    public synchronized List<Cycle> cycles() {
        return List.copyOf(cycles);
    }
}
