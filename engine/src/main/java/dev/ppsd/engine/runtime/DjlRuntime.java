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

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
