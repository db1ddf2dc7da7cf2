package dev.ppsd.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A packed projection computes {@code x W^T} (against a plain-Java dot product), and each row's output is the same
 * bit for bit whatever rows come with it: a sequence decoded alone, in a batch of 8 or verified with its drafts gets
 * the same logits, which keeps every schedule token-identical to {@code ar} under greedy decoding.
 */
class PackedLinearTest {
    private static final int[] ROWS = {1, 2, 3, 4, 5, 8, 13, 16, 17, 40, 64, 65};

    @ParameterizedTest
    @ValueSource(strings = {"FLOAT32", "BFLOAT16"})
    void aRowsOutputDoesNotDependOnTheRowsThatComeWithIt(String typeName) {
        DataType type = DataType.valueOf(typeName);
        DjlRuntime.init();
        try (NDManager m = NDManager.newBaseManager()) {
            int out = 1024;
            int in = 512; // 2^19 elements: packed in float32 too
            NDArray plain = Bfloat16.toType(m.randomNormal(new Shape(out, in)), type);
            Assumptions.assumeTrue(PackedLinear.packable(plain), "no oneDNN packing on this CPU");
            float[] w = widened(plain);
            NDArray packed = PackedLinear.pack(plain.duplicate());
            assertTrue(PackedLinear.isPacked(packed));
            int maxRows = ROWS[ROWS.length - 1];
            NDArray x = Bfloat16.toType(m.randomNormal(new Shape(maxRows, in)), type);
            float[] xs = widened(x);
            float[] all = widened(PackedLinear.linear(x, packed, null));
            double tolerance = type == DataType.FLOAT32 ? 1e-3 : 0.5; // bfloat16 output rounds to 8 bits
            for (int r = 0; r < maxRows; r++) {
                for (int o = 0; o < out; o++) {
                    double dot = 0;
                    for (int i = 0; i < in; i++) {
                        dot += (double) xs[r * in + i] * w[o * in + i];
                    }
                    assertEquals(dot, all[r * out + o], tolerance * Math.max(1, Math.abs(dot) / 8),
                            "row " + r + ", output " + o);
                }
            }
            for (int rows : ROWS) {
                float[] first = widened(PackedLinear.linear(x.get(new NDIndex("0:" + rows)).duplicate(), packed, null));
                for (int k = 0; k < rows * out; k++) {
                    assertEquals(Float.floatToIntBits(all[k]), Float.floatToIntBits(first[k]),
                            "the first " + rows + " rows alone, element " + k);
                }
                int last = rows - 1;
                float[] alone = widened(PackedLinear.linear(
                        x.get(new NDIndex(last + ":" + rows)).duplicate(), packed, null));
                for (int o = 0; o < out; o++) {
                    assertEquals(Float.floatToIntBits(all[last * out + o]), Float.floatToIntBits(alone[o]),
                            "row " + last + " alone, output " + o);
                }
            }
        }
    }

    /**
     * Whether q, k and v are stacked and packed is asked of their stack: three 256×256 float32 weights, each under
     * the packing size, stack into a packable 768×256 that computes their three outputs side by side; a stack under
     * the size changes nothing (the weights stay open and plain).
     */
    @Test
    void stackedWeightsArePackedWhenTheirStackIsLargeEnough() {
        DjlRuntime.init();
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray[] qkv = {m.randomNormal(new Shape(256, 256)), m.randomNormal(new Shape(256, 256)),
                m.randomNormal(new Shape(256, 256))};
            assertFalse(PackedLinear.packable(qkv[0]), "one 256×256 float32 weight is under the packing size");
            Assumptions.assumeTrue(PackedLinear.packable(m.zeros(new Shape(1024, 512))), "no oneDNN packing here");
            assertTrue(PackedLinear.packable(m.zeros(new Shape(768, 256))), "768×256 float32 is over the packing size");
            NDArray x = m.randomNormal(new Shape(3, 256));
            float[][] expected = new float[3][];
            for (int i = 0; i < 3; i++) {
                expected[i] = x.matMul(qkv[i].transpose()).toFloatArray();
            }
            NDArray stacked = PackedLinear.packStacked(qkv);
            assertTrue(PackedLinear.isStacked(stacked) && PackedLinear.isPacked(stacked));
            NDArray out = PackedLinear.linear(x, stacked, null); // [3, 768]: q, k, v side by side
            for (int i = 0; i < 3; i++) {
                float[] got = out.get(new NDIndex(":, " + 256 * i + ":" + 256 * (i + 1))).toFloatArray();
                for (int k = 0; k < got.length; k++) {
                    assertEquals(expected[i][k], got[k], 1e-3 * Math.max(1, Math.abs(expected[i][k]) / 8),
                            "projection " + i + ", element " + k);
                }
            }
            NDArray[] small = {m.randomNormal(new Shape(64, 256)), m.randomNormal(new Shape(64, 256))};
            float[] before = small[1].toFloatArray();
            assertNull(PackedLinear.packStacked(small), "a 128×256 stack is under the packing size");
            assertArrayEquals(before, small[1].toFloatArray(), "and its weights are left as they were");
        }
    }

    /** {@code a}'s values as float32, exactly (a bfloat16 value widens without rounding). */
    private static float[] widened(NDArray a) {
        return Bfloat16.toType(a, DataType.FLOAT32).toFloatArray();
    }
}
