package dev.ppsd.engine.runtime;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DjlRuntimeTest {
    @Test
    void offlineAndNoTrackingAreSetBeforeTheEngineStarts() {
        DjlRuntime.init();
        assertEquals("true", System.getProperty("ai.djl.offline"));
        assertEquals("true", System.getProperty("OPT_OUT_TRACKING"));
    }

    /**
     * TorchScript's graph-executor optimisation is off unless the user turned it on (the test JVM sets nothing):
     * DJL's own module calls read the property, and {@link DjlRuntime#configureThread} applies it to the engine's
     * threads (PyTorch keeps it per thread and has no getter DJL exposes; its effect is a benchmark's, see
     * docs/benchmarks.md).
     */
    @Test
    void graphExecutorOptimisationIsOffByDefault() {
        DjlRuntime.init();
        assertEquals("false", System.getProperty(DjlRuntime.GRAPH_OPTIMIZER));
    }

    @Test
    void aNewThreadGetsTheConfiguredIntraOpThreadCount() throws Exception {
        DjlRuntime.init();
        Engine.getEngine("PyTorch");
        int want = Integer.getInteger("ai.djl.pytorch.num_threads", 1);
        int[] seen = new int[2];
        Thread t = new Thread(() -> {
            DjlRuntime.configureThread();
            seen[0] = JniUtils.getNumThreads();
            DjlRuntime.configureThread(); // idempotent
            seen[1] = JniUtils.getNumThreads();
        });
        t.start();
        t.join();
        assertEquals(want, seen[0], "PyTorch intra-op threads on a configured thread");
        assertEquals(want, seen[1]);
        assertTrue(want >= 1);
    }
}
