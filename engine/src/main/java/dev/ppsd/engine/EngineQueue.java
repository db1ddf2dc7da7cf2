package dev.ppsd.engine;

import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SequenceSource;

import java.util.ArrayDeque;
import java.util.Collection;

/**
 * The engine's live queue: callers add sequences and wait for them; the engine's worker thread runs the scheduler
 * over it, which takes a waiting sequence whenever a slot frees, so the sequences of every caller (every Spark task
 * of an executor) share the slots. A failure of the scheduler fails every waiting caller, now and later.
 */
final class EngineQueue implements SequenceSource {
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private Throwable failure;
    private int running;
    private int peakRunning;
    private boolean closed;

    /** Queues {@code sequences} for the worker. */
    synchronized void add(Collection<Sequence> sequences) {
        check();
        waiting.addAll(sequences);
        notifyAll();
    }

    @Override
    public synchronized Sequence poll() {
        // the first sequence that may start: a further sample of a request waits for its first sample's prefill
        for (java.util.Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            if (s.mayStart()) {
                it.remove();
                peakRunning = Math.max(peakRunning, ++running);
                return s;
            }
        }
        return null;
    }

    @Override
    public synchronized void finished(Sequence s) {
        running--;
        notifyAll();
    }

    /** The most sequences ever in flight at once (taken by the scheduler, not finished yet). */
    synchronized int peakRunning() {
        return peakRunning;
    }

    /** Waits until every one of {@code sequences} finished; throws when the engine failed meanwhile. */
    synchronized void awaitFinished(Collection<Sequence> sequences) throws InterruptedException {
        while (failure == null && !closed && !sequences.stream().allMatch(Sequence::finished)) {
            wait();
        }
        check();
    }

    /** Takes back the sequences of a caller that stopped waiting (those already running finish unseen). */
    synchronized void withdraw(Collection<Sequence> sequences) {
        waiting.removeAll(sequences);
    }

    /** The worker's wait for work; false once the engine closes. */
    synchronized boolean awaitWork() throws InterruptedException {
        while (waiting.isEmpty() && !closed) {
            wait();
        }
        return !closed;
    }

    /** The scheduler failed: every waiting and future caller gets {@code t}. */
    synchronized void fail(Throwable t) {
        failure = t;
        waiting.clear();
        notifyAll();
    }

    synchronized void close() {
        closed = true;
        notifyAll();
    }

    private void check() {
        if (failure != null) {
            throw new IllegalStateException("the engine failed: " + failure, failure);
        }
        if (closed) {
            throw new IllegalStateException("the engine is closed");
        }
    }
}
