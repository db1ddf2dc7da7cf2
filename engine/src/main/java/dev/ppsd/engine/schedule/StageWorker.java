package dev.ppsd.engine.schedule;

import dev.ppsd.engine.runtime.DjlRuntime;

import java.util.concurrent.locks.LockSupport;

/**
 * The worker thread of one pipeline stage: runs one task per cycle. Hand-offs spin briefly before parking
 * (when the machine has a core per pipeline thread), so a cycle whose stages finish close together costs no
 * thread wake-up; a wake-up in a VM costs tens of microseconds, a few percent of a 2 ms stage.
 *
 * <p>One task at a time: tasks are numbered, and {@link #start} refuses a task while the previous one still runs
 * (its {@link #await} was interrupted, or never called), since both would use the stage's caches and the second's
 * await could return when the first one ended. A reused scheduler checks {@link #checkIdle} before it touches the
 * stage's caches. The worker thread never dies of a task: what a task (or configuring the thread) throws is rethrown
 * by {@link #await}.
 */
final class StageWorker implements AutoCloseable {
    /** How long either side spins for the other before parking. */
    static final long SPIN_NANOS = 300_000;
    private final Thread thread;
    private final long spinNanos;
    private final Runnable configure;
    private volatile Runnable task;
    /** Tasks handed to the worker so far (coordinator only). */
    private long started;
    /** Tasks the worker has finished; written after a task's effects, so reading it publishes them. */
    private volatile long finished;
    /** Tasks whose outcome {@link #await} has reported (coordinator only). */
    private long awaited;
    private volatile Throwable failure;
    private volatile boolean closed;
    private volatile Thread waiter;

    /**
     * @param threads the number of threads the pipeline keeps busy; spinning is off when the machine has
     *                fewer cores than that (a spinning thread would then take a core from a working one)
     */
    StageWorker(String name, int threads) {
        this(name, threads, DjlRuntime::configureThread);
    }

    /**
     * As above; {@code configure} runs on the worker thread before each task (tests replace DJL's per-thread
     * settings).
     */
    StageWorker(String name, int threads, Runnable configure) {
        this.spinNanos = Runtime.getRuntime().availableProcessors() >= threads ? SPIN_NANOS : 0;
        this.configure = configure;
        this.thread = new Thread(this::loop, name);
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Hands {@code r} to the worker; call {@link #await} before the next start. Fails, without handing it over,
     * when the worker is closed or still runs the previous task.
     */
    void start(Runnable r) {
        if (closed) {
            throw new IllegalStateException(thread.getName() + " is closed");
        }
        checkIdle();
        failure = null;
        started++;
        task = r;
        LockSupport.unpark(thread);
    }

    /** Whether no task is running (every started task finished). */
    boolean idle() {
        return finished == started;
    }

    /**
     * Fails when the last task given to {@link #start} has not finished: its {@link #await} was interrupted (or never
     * called) and it still runs on the stage's caches.
     */
    void checkIdle() {
        long f = finished;
        if (f != started) {
            throw new IllegalStateException(thread.getName() + " is still running task " + started + " (its await was"
                    + " interrupted or skipped); a new task would race with it");
        }
    }

    /** Waits for the task given to {@link #start}; rethrows what it threw. */
    void await() {
        if (awaited == started) {
            throw new IllegalStateException(thread.getName() + ": await without a started task");
        }
        long until = System.nanoTime() + spinNanos;
        while (finished != started && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
        if (finished != started) {
            waiter = Thread.currentThread();
            while (finished != started) {
                LockSupport.park(this);
                if (Thread.interrupted()) {
                    waiter = null;
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for " + thread.getName());
                }
            }
            waiter = null;
        }
        awaited = started;
        Throwable f = failure;
        if (f != null) {
            throw new IllegalStateException("pipeline stage failed: " + f, f);
        }
    }

    private void loop() {
        long ran = 0;
        while (!closed) {
            Runnable r = next();
            if (r == null) {
                continue;
            }
            try {
                configure.run(); // cheap once it succeeded on this thread
                r.run();
            } catch (Throwable t) {
                failure = t;
            }
            finished = ++ran;
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
