package dev.ppsd.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A long decode through {@link LlamaModel#forwardLogits} (which wraps each call in an {@code NDScope}) must not
 * leave NDArrays attached to the model's manager tree: the live count at step 100 and at step 2000 is equal.
 *
 * <p>The count can fail: the same forward run without an {@code NDScope} (checked at the end of the test) leaves
 * arrays behind in the model's manager every step, and the counter sees them.
 */
class KvCacheMemoryTest {
    private static final int STEPS = 2000;
    private static final int MAX_LEN = 2100;

    @TempDir
    Path dir;

    @BeforeAll
    static void init() {
        DjlRuntime.init();
    }

    /** Live NDArrays owned by {@code m} and, recursively, by its sub-managers (which are entries of resources). */
    static int liveArrays(NDManager m) {
        try {
            Field f = BaseNDManager.class.getDeclaredField("resources");
            f.setAccessible(true);
            @SuppressWarnings("unchecked")
            Map<String, AutoCloseable> resources = (Map<String, AutoCloseable>) f.get(m);
            int n = 0;
            for (AutoCloseable r : resources.values()) {
                if (r instanceof NDArray) {
                    n++;
                } else if (r instanceof NDManager sub) {
                    n += liveArrays(sub);
                }
            }
            return n;
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot read BaseNDManager.resources", e);
        }
    }

    @Test
    void decodeLoopDoesNotAccumulateArrays() throws IOException {
        LlamaConfig cfg = ReferenceForwardTest.config(16, 32, 2, 2, 1, 8, 32, MAX_LEN, false);
        ReferenceForwardTest.writeModel(dir, cfg, 41, "F32");
        try (LlamaModel model = LlamaModel.load(dir); KvCache cache = model.newCache(1, MAX_LEN)) {
            int weights = liveArrays(model.manager());
            float[] last = model.forwardLogits(cache, 0, new int[] {2, 7, 1, 8}, 0)[3];
            int pos = 4;
            int atStep100 = -1;
            for (int step = 1; step <= STEPS; step++) {
                int tok = ReferenceForwardTest.argmax(last);
                last = model.forwardLogits(cache, 0, new int[] {tok}, pos++)[0];
                if (step == 100) {
                    atStep100 = liveArrays(model.manager());
                }
            }
            int atStep2000 = liveArrays(model.manager());
            assertEquals(STEPS + 4, cache.length(0, 0));
            assertEquals(STEPS + 4, cache.length(1, 0));
            System.out.printf("[KvCacheMemoryTest] live NDArrays: %d after load, %d at step 100, %d at step %d%n",
                    weights, atStep100, atStep2000, STEPS);
            assertEquals(atStep100, atStep2000, "NDArrays accumulate in the model's manager during decoding");

            // control: the same forward without an NDScope leaks, and the counter sees it
            int before = liveArrays(model.manager());
            for (int i = 0; i < 3; i++) {
                LayerStack all = model.stack(0, cfg.numHiddenLayers());
                AttentionBatch a = all.batch(model.manager(), new int[] {pos}, new int[] {0}, 1);
                NDArray h = all.forward(model.embed(model.manager(), new int[][] {{5}}), a, cache);
                model.logits(h).toFloatArray();
                pos++;
            }
            int leaked = liveArrays(model.manager()) - before;
            System.out.printf("[KvCacheMemoryTest] control: 3 unscoped steps leave %d arrays%n", leaked);
            assertTrue(leaked >= 3 * 10, "the counter does not see unscoped arrays (" + leaked + ")");
        }
    }

    /**
     * A cached forward frees each layer's temporaries as the layer returns ({@link LayerStack#forward}): what it leaves
     * in the caller's step scope does not grow with the number of layers. (Held to the end of a pipeline stage's
     * cycle, every layer's prefill temporaries were live at once: on the 97M model at 32 slots the process grew to
     * 2.3 GB against 1.3 GB.)
     */
    @Test
    void aCachedForwardLeavesNothingPerLayerInTheStepsScope() throws IOException {
        LlamaConfig cfg = ReferenceForwardTest.config(16, 32, 6, 2, 1, 8, 32, 64, false);
        ReferenceForwardTest.writeModel(dir, cfg, 43, "F32");
        try (LlamaModel model = LlamaModel.load(dir); KvCache cache = model.newCache(1, 64)) {
            int[] left = new int[cfg.numHiddenLayers() + 1];
            for (int layers : new int[] {1, cfg.numHiddenLayers()}) {
                cache.reset(0);
                LayerStack stack = model.stack(0, layers);
                try (NDScope step = new NDScope()) {
                    AttentionBatch a = stack.batch(model.manager(), new int[] {0}, new int[] {0}, 4);
                    NDArray x = model.embed(model.manager(), new int[][] {{2, 7, 1, 8}});
                    int before = liveArrays(model.manager());
                    NDArray h = stack.forward(x, a, cache);
                    left[layers] = liveArrays(model.manager()) - before;
                    assertEquals(4, h.getShape().get(1));
                }
            }
            System.out.printf("[KvCacheMemoryTest] a cached forward leaves %d arrays with 1 layer, %d with %d%n",
                    left[1], left[cfg.numHiddenLayers()], cfg.numHiddenLayers());
            assertEquals(left[1], left[cfg.numHiddenLayers()], "temporaries of every layer live until the step ends");
        }
    }

    @Test
    void aBatchCacheIsFirstMadeForTheNextPowerOfTwoPositionsWithinTheCap() {
        assertEquals(128, KvCache.firstLength(70, 4096));
        assertEquals(128, KvCache.firstLength(128, 4096));
        assertEquals(256, KvCache.firstLength(129, 4096));
        assertEquals(1, KvCache.firstLength(1, 4096));
        assertEquals(100, KvCache.firstLength(70, 100), "never past the cap");
        assertEquals(70, KvCache.firstLength(70, 64), "a need past the cap is refused by ensureLength, not shrunk");
        assertEquals(Integer.MAX_VALUE, KvCache.firstLength((1 << 30) + 1, Integer.MAX_VALUE), "no overflow");
    }
}
