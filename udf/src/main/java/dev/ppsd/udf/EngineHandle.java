package dev.ppsd.udf;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.schedule.PipelineScheduler;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;
import org.apache.spark.TaskContext;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A job's engine as Spark tasks see it: small and serializable (the engine's options, never weights), opened
 * lazily once per executor JVM and shared by every task of that JVM. {@link #generate} is the one way rows reach
 * the engine, from the Dataset API and from the SQL function alike: the requests go to the executor's engine for
 * these options (opened on first use under a per-options lock: model folder made local by {@link ModelPaths},
 * {@code stages=auto} mapped to the task's GPUs by {@link TaskGpus}), where they share the batch's slots with the
 * rows of the executor's other tasks (the engine batches continuously: a slot is refilled as soon as its row ends).
 *
 * <p>An exception of the engine itself (a native error, out of memory) is not a row error: that engine is dropped
 * (and closed once no call uses it), every waiting call fails with {@link PpsdEngineException}, and Spark's retry
 * of the task opens a fresh engine.
 */
public final class EngineHandle implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Map<EngineOptions, Running> RUNNING = new ConcurrentHashMap<>();
    private static final Map<EngineOptions, AtomicInteger> OPENED = new ConcurrentHashMap<>();

    private final EngineOptions options;

    /** A handle for engines built with {@code options} (model as given: path, Hadoop URI or shipped name). */
    public EngineHandle(EngineOptions options) {
        this.options = options;
    }

    /** The options as given (before they are made local on an executor). */
    public EngineOptions options() {
        return options;
    }

    /** The same handle with another value of an engine setting (the SQL function's per-call options). */
    public <T> EngineHandle with(Setting<T> s, Object value) {
        return new EngineHandle(options.withValue(s, value));
    }

    /** Checks on the driver, before any data moves, that a model is set. */
    public void validate() {
        if (options.get(Settings.MODEL) == null) {
            throw new IllegalArgumentException("model is not set: set the model param or --conf "
                    + Settings.MODEL.confKey() + "=PATH");
        }
    }

    /**
     * Generates {@code requests} on this executor's engine; blocks until all are done and returns one result per
     * request, in order (a bad request's error is in its own result). Throws {@link PpsdEngineException} when the
     * engine itself failed.
     */
    public List<GenerationResult> generate(List<GenerationRequest> requests) {
        return submit(requests).get();
    }

    /**
     * Queues {@code requests} on this executor's engine and returns at once; {@link Submitted#get()} waits for the
     * results. A task that keeps its next rows queued while it waits keeps the engine's slots full.
     */
    public Submitted submit(List<GenerationRequest> requests) {
        if (requests.isEmpty()) {
            return new Submitted(null, null, 0);
        }
        Running r = acquire(localOptions(TaskContext.get()));
        try {
            return new Submitted(r, r.submit(requests), requests.size());
        } catch (RuntimeException | Error e) {
            r.release();
            throw e;
        }
    }

    /**
     * Starts opening this JVM's engine in the background and returns at once: with a local master the tasks run in
     * this JVM, so the model loads while Spark plans the job and starts its tasks, instead of in the first task. The
     * first task waits for the open to finish (the engine's lock); an open that fails is left for that task to meet,
     * and report, again. Returns the opening thread (to wait for it before the JVM may exit).
     */
    public Thread openAhead() {
        Thread t = new Thread(() -> {
            try {
                acquire(localOptions(null)).release();
            } catch (RuntimeException | Error e) {
                // the first task opens it again and fails with this in its own words
            }
        }, "ppsd-engine-open");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * What {@code speculation auto} has learned so far in this JVM's engine for these options, as the task {@code ctx}
     * uses it: per number of rows in flight, the schedule it settled on and the share of cycles its probes took
     * ({@link PipelineScheduler#speculationSummary}); null when no such engine is open or it does not speculate.
     */
    String speculationSummary(TaskContext ctx) {
        Running r = RUNNING.get(localOptions(ctx));
        GenerationEngine e = r == null ? null : r.engine();
        return e != null && e.scheduler() instanceof PipelineScheduler p ? p.speculationSummary() : null;
    }

    /**
     * Rows queued on the engine: {@link #get()} waits for their results; {@link #release()} gives the engine up
     * without them (a task that failed): an evicted engine closes once no queued rows hold it.
     */
    public static final class Submitted {
        private final Running running;
        private final GenerationEngine.Pending pending;
        private final int rows;
        private boolean released;

        private Submitted(Running running, GenerationEngine.Pending pending, int rows) {
            this.running = running;
            this.pending = pending;
            this.rows = rows;
        }

        /** Waits for the results, one per request, in order. */
        public List<GenerationResult> get() {
            if (running == null) {
                return List.of();
            }
            try {
                return running.results(pending, rows);
            } finally {
                release();
            }
        }

        /** Lets go of the engine (idempotent). */
        public synchronized void release() {
            if (running != null && !released) {
                released = true;
                running.release();
            }
        }
    }

    /** The options of the engine for the task {@code ctx} (null outside a task): paths local, stages concrete. */
    EngineOptions localOptions(TaskContext ctx) {
        validate();
        EngineOptions o = options.with(Settings.MODEL, ModelPaths.localize(options.get(Settings.MODEL)).toString());
        String head = options.get(Settings.EXIT_HEAD);
        if (!head.equals("auto") && !head.equals("shared")) {
            o = o.with(Settings.EXIT_HEAD, ModelPaths.localize(head).toString());
        }
        return o.with(Settings.STAGES, String.join(",", o.stageDevices(TaskGpus.of(ctx))));
    }

    /** Engines opened in this JVM so far for {@code options} (local form); tests check "one per executor". */
    static int opened(EngineOptions options) {
        AtomicInteger n = OPENED.get(options);
        return n == null ? 0 : n.get();
    }

    /** The engine currently running for {@code options} (local form) in this JVM, opening it if needed. */
    static GenerationEngine engine(EngineOptions options) {
        Running r = acquire(options);
        r.release();
        return r.engine;
    }

    /** Makes the next engine call for {@code options} (local form) throw {@code fault} (tests of the rebuild path). */
    static void injectFault(EngineOptions options, Throwable fault) {
        Running r = acquire(options);
        r.fault = fault;
        r.release();
    }

    /** Drops every engine of this JVM (each closes once no call uses it). */
    public static void closeAll() {
        for (Running r : List.copyOf(RUNNING.values())) {
            r.evict();
        }
    }

    private static Running acquire(EngineOptions options) {
        while (true) {
            Running r = RUNNING.computeIfAbsent(options, Running::new);
            if (r.tryUse()) {
                return r;
            }
            RUNNING.remove(options, r);
        }
    }

    /** One open engine of this JVM and the calls using it. */
    private static final class Running {
        private final EngineOptions options;
        private GenerationEngine engine;
        private volatile Throwable fault;
        private int users;
        private boolean evicted;

        Running(EngineOptions options) {
            this.options = options;
        }

        synchronized GenerationEngine engine() {
            return engine;
        }

        /** Opens the engine on first use (under this object's lock: other options are not blocked). */
        synchronized boolean tryUse() {
            if (evicted) {
                return false;
            }
            if (engine == null) {
                engine = GenerationEngine.open(options);
                OPENED.computeIfAbsent(options, k -> new AtomicInteger()).incrementAndGet();
            }
            users++;
            return true;
        }

        /** Queues the requests; an exception of the engine itself drops it and fails the call. */
        GenerationEngine.Pending submit(List<GenerationRequest> requests) {
            try {
                Throwable f = fault;
                if (f != null) {
                    fault = null;
                    if (f instanceof Error err) {
                        throw err;
                    }
                    throw (RuntimeException) f;
                }
                return engine.submit(requests);
            } catch (RuntimeException | Error e) {
                throw failed(e, requests.size());
            }
        }

        /** The results of queued requests; an exception of the engine itself drops it and fails the call. */
        List<GenerationResult> results(GenerationEngine.Pending p, int rows) {
            try {
                return p.results();
            } catch (RuntimeException | Error e) {
                throw failed(e, rows);
            }
        }

        private PpsdEngineException failed(Throwable e, int rows) {
            evict();
            return new PpsdEngineException("the engine failed generating " + rows + " rows: " + e, e);
        }

        synchronized void release() {
            users--;
            closeIfDone();
        }

        /** Drops this engine: new calls open a fresh one; it closes once no call uses it. */
        synchronized void evict() {
            RUNNING.remove(options, this);
            evicted = true;
            closeIfDone();
        }

        private void closeIfDone() {
            if (evicted && users == 0 && engine != null) {
                engine.close();
                engine = null;
            }
        }
    }
}
