package dev.ppsd.engine.schedule;

import dev.ppsd.engine.decode.Sequence;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A sequence while it occupies a cache slot of the pipeline: its in-flight entries, oldest first, and its
 * speculation counters.
 */
final class Lane {
    final Sequence seq;
    final int slot;
    final Deque<InFlight> inFlight = new ArrayDeque<>();
    /** States each entry keeps for the drafter ({@link InFlight#states}). */
    final int stateDepths;
    /**
     * SPD: entries that have left the last stage (oldest first) whose rows are not yet final in the SPD head's cache;
     * their states make those rows at the sequence's next draft. Empty for other drafters.
     */
    final Deque<InFlight> completed = new ArrayDeque<>();
    /** SPD: positions {@code [0, finalRows)} have their final rows in the SPD head's cache. */
    int finalRows;
    long proposed;
    long accepted;
    long cycles;
    long flushes;
    final double[] busyMs;
    final double[] idleMs;

    Lane(Sequence seq, int slot, int stages, int stateDepths) {
        this.seq = seq;
        this.slot = slot;
        this.stateDepths = stateDepths;
        this.busyMs = new double[stages];
        this.idleMs = new double[stages];
    }

    /** After a cycle: every entry that ran moves on to the next stage ({@code k}: it has left the last one). */
    void moveOn() {
        inFlight.forEach(e -> e.stage += e.ran ? 1 : 0);
    }

    /** The tokens of the drafts in flight, oldest first (what follows the committed tokens). */
    int[] draftsInFlight() {
        return inFlight.stream().filter(e -> e.draft).mapToInt(e -> e.tokens[0]).toArray();
    }

    /** Drops every in-flight entry at or after {@code position} (a flush). */
    void discardFrom(int position) {
        while (!inFlight.isEmpty() && inFlight.peekLast().start >= position) {
            inFlight.pollLast().discard();
        }
    }

    void discardAll() {
        inFlight.forEach(InFlight::discard);
        inFlight.clear();
        completed.forEach(InFlight::discard);
        completed.clear();
    }
}
