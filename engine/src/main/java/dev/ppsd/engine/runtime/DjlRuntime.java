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
            String cache = System.getenv("PPSD_CACHE");
            if (cache != null && !cache.isBlank()) {
                setIfAbsent("DJL_CACHE_DIR", cache + "/djl");
                setIfAbsent("ENGINE_CACHE_DIR", cache + "/djl");
            }
            done = true;
        }
    }

    /**
     * Applies the intra-op thread count ({@code ai.djl.pytorch.num_threads}, default 1) to the calling
     * thread. PyTorch's OpenMP thread count is a per-thread setting: DJL applies it only on the thread that
     * starts the engine, so every other thread that runs tensor ops (a pipeline stage, a Spark task, a
     * batcher) would otherwise fork an OpenMP team of one spinning worker per core for each op, and two
     * such threads slow each other down 2-10x. Cheap after the first call on a thread.
     */
    public static void pinIntraOpThreads() {
        if (PINNED.get()) {
            return;
        }
        init();
        int n = Integer.getInteger("ai.djl.pytorch.num_threads", 1);
        if (n > 0 && "PyTorch".equals(ai.djl.engine.Engine.getDefaultEngineName())) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(n);
        }
        PINNED.set(true);
    }

    private static final ThreadLocal<Boolean> PINNED = ThreadLocal.withInitial(() -> false);

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
