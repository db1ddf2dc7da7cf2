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

    @Test
    void aNewThreadGetsTheConfiguredIntraOpThreadCount() throws Exception {
        DjlRuntime.init();
        Engine.getEngine("PyTorch");
        int want = Integer.getInteger("ai.djl.pytorch.num_threads", 1);
        int[] seen = new int[2];
        Thread t = new Thread(() -> {
            DjlRuntime.pinIntraOpThreads();
            seen[0] = JniUtils.getNumThreads();
            DjlRuntime.pinIntraOpThreads(); // idempotent
            seen[1] = JniUtils.getNumThreads();
        });
        t.start();
        t.join();
        assertEquals(want, seen[0], "PyTorch intra-op threads on a pinned thread");
        assertEquals(want, seen[1]);
        assertTrue(want >= 1);
    }
}
