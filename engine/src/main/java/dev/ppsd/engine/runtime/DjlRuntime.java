package dev.ppsd.engine.runtime;

/**
 * Puts DJL in the mode this library always runs in, before any engine starts: offline (no model-zoo or
 * native-library downloads) and with usage tracking off, so nothing phones home from a user's cluster.
 * Values a user set explicitly (system properties) are kept.
 */
public final class DjlRuntime {
    private static volatile boolean done;

    private DjlRuntime() {
    }

    /** Idempotent; call before the first DJL call of a JVM. */
    public static void init() {
        if (done) {
            return;
        }
        synchronized (DjlRuntime.class) {
            if (done) {
                return;
            }
            setIfAbsent("ai.djl.offline", "true");
            setIfAbsent("offline", "true");
            setIfAbsent("OPT_OUT_TRACKING", "true");
            // one intra-op thread per calling thread: PPSD runs one thread per stage
            setIfAbsent("ai.djl.pytorch.num_threads", "1");
            setIfAbsent("ai.djl.pytorch.num_interop_threads", "1");
            // TorchScript's profiling executor off: see configureThread
            setIfAbsent(GRAPH_OPTIMIZER, "false");
            String cache = System.getenv("PPSD_CACHE");
            if (cache != null && !cache.isBlank()) {
                setIfAbsent("DJL_CACHE_DIR", cache + "/djl");
                setIfAbsent("ENGINE_CACHE_DIR", cache + "/djl");
            }
            done = true;
        }
    }

    /**
     * Applies PyTorch's per-thread settings to the calling thread, which DJL applies only on the thread that starts
     * the engine (or, for the second, around its own module calls, which the engine bypasses). Cheap after the first
     * call on a thread.
     * <ul>
     *   <li>The intra-op thread count ({@code ai.djl.pytorch.num_threads}, default 1): every other thread that
     *       runs tensor ops (a pipeline stage, a Spark task, a batcher) would otherwise fork an OpenMP team of one
     *       spinning worker per core for each op, and two such threads slow each other down 2-10x.</li>
     *   <li>TorchScript's graph-executor optimisation ({@code ai.djl.pytorch.graph_optimizer}, default false):
     *       on, the profiling executor specialises each module's graph to the shapes it has seen and profiles and
     *       re-optimises it when they change, and a decoder's shapes change at every step (batch rows, cache
     *       length). Off, the logits are the same to the bit, a warm step is no slower, and the pipeline's first
     *       steps are faster (16 requests of the bundled model at batch 8: 680-744 ms against 820-848;
     *       docs/benchmarks.md).</li>
     * </ul>
     */
    public static void configureThread() {
        if (CONFIGURED.get()) {
            return;
        }
        init();
        if ("PyTorch".equals(ai.djl.engine.Engine.getDefaultEngineName())) {
            int n = Integer.getInteger("ai.djl.pytorch.num_threads", 1);
            if (n > 0) {
                ai.djl.pytorch.jni.JniUtils.setNumThreads(n);
            }
            ai.djl.pytorch.jni.JniUtils.setGraphExecutorOptimize(Boolean.parseBoolean(
                    System.getProperty(GRAPH_OPTIMIZER, "false")));
        }
        CONFIGURED.set(true);
    }

    /** DJL's switch for TorchScript's graph-executor optimisation, which {@link #configureThread} applies. */
    static final String GRAPH_OPTIMIZER = "ai.djl.pytorch.graph_optimizer";

    private static final ThreadLocal<Boolean> CONFIGURED = ThreadLocal.withInitial(() -> false);

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
