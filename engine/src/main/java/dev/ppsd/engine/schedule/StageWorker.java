package dev.ppsd.engine.schedule;

import dev.ppsd.engine.runtime.DjlRuntime;

import java.util.concurrent.locks.LockSupport;

/**
 * The worker thread of one pipeline stage: runs one task per cycle. Hand-offs spin briefly before parking
 * (when the machine has a core per pipeline thread), so a cycle whose stages finish close together costs no
 * thread wake-up; a wake-up in a VM costs tens of microseconds, a few percent of a 2 ms stage.
 */
final class StageWorker implements AutoCloseable {
    /** How long either side spins for the other before parking. */
    static final long SPIN_NANOS = 300_000;
    private final Thread thread;
    private final long spinNanos;
    private volatile Runnable task;
    private volatile boolean done = true;
    private volatile Throwable failure;
    private volatile boolean closed;
    private volatile Thread waiter;

    /**
     * @param threads the number of threads the pipeline keeps busy; spinning is off when the machine has
     *                fewer cores than that (a spinning thread would then take a core from a working one)
     */
    StageWorker(String name, int threads) {
        this.spinNanos = Runtime.getRuntime().availableProcessors() >= threads ? SPIN_NANOS : 0;
        this.thread = new Thread(this::loop, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** Hands {@code r} to the worker; call {@link #await} before the next start. */
    void start(Runnable r) {
        if (closed) {
            throw new IllegalStateException(thread.getName() + " is closed");
        }
        failure = null;
        done = false;
        task = r;
        LockSupport.unpark(thread);
    }

    /** Waits for the task given to {@link #start}; rethrows what it threw. */
    void await() {
        long until = System.nanoTime() + spinNanos;
        while (!done && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
        if (!done) {
            waiter = Thread.currentThread();
            while (!done) {
                LockSupport.park(this);
                if (Thread.interrupted()) {
                    waiter = null;
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for " + thread.getName());
                }
            }
            waiter = null;
        }
        Throwable f = failure;
        if (f != null) {
            throw new IllegalStateException("pipeline stage failed: " + f, f);
        }
    }

    private void loop() {
        DjlRuntime.pinIntraOpThreads();
        while (!closed) {
            Runnable r = next();
            if (r == null) {
                continue;
            }
            try {
                r.run();
            } catch (Throwable t) {
                failure = t;
            }
            done = true;
            Thread w = waiter;
            if (w != null) {
                LockSupport.unpark(w);
            }
        }
    }

    private Runnable next() {
        long until = System.nanoTime() + spinNanos;
        Runnable r;
        while ((r = task) == null && !closed) {
            if (System.nanoTime() < until) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this);
            }
        }
        task = null;
        return r;
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
    }
}
