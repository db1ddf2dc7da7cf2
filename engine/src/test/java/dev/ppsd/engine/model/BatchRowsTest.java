package dev.ppsd.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link BatchRows}: which prompts join the decode tokens, and how a flat batch's rows map back to its sequences.
 * (That a flat call computes what separate calls do is {@code ReferenceForwardTest.flatBatchPromptsAmongDecodeTokens}.)
 */
class BatchRowsTest {
    /** The bundled model's shape: hidden 256, 8 heads of 32, 4 KV heads, intermediate 704. */
    private static final LlamaConfig BUNDLED = new LlamaConfig(256, 704, 8, 8, 4, 32, 1e-5f, 10000f, 4096, 512, false,
            0, List.of(1));

    @BeforeAll
    static void init() {
        DjlRuntime.init();
    }

    /** A prompt of {@code length} tokens at positions [0, length): {length, end}. */
    private static int[] prompt(int length) {
        return new int[] {length, length};
    }

    @Test
    void shortPromptsJoinTheDecodeTokensLongOnesRunAlone() {
        // a row gathers 2 * 4 * 32 = 256 numbers per position, at most 2^20 = 1,048,576 in all
        List<int[]> decode = List.of(new int[] {1, 60}, new int[] {1, 90});
        int[] small = prompt(15); // (2 + 15) rows * 90 positions * 256 = 391,680
        int[] large = prompt(300);
        int[] medium = prompt(40); // then (17 + 40) * 90 * 256 = 1,313,280: too many
        List<int[]> joining = BatchRows.joining(BUNDLED, decode, List.of(large, small, medium), p -> p[0], p -> p[1]);
        assertEquals(List.of(small), joining); // shortest first; the others run alone
        // without the small one, the medium one fits: (2 + 40) * 90 * 256 = 967,680
        assertEquals(List.of(medium), BatchRows.joining(BUNDLED, decode, List.of(large, medium), p -> p[0], p -> p[1]));
        // with no decode tokens the first (shortest) prompt always starts the call
        assertEquals(List.of(large), BatchRows.joining(BUNDLED, List.of(), List.of(large), p -> p[0], p -> p[1]));
        // the bound: 2 + n rows over 90 positions: n = 43 fits (45 * 90 * 256 = 1,036,800), 44 does not
        assertEquals(1, BatchRows.joining(BUNDLED, decode, List.of(new int[] {43, 43}), p -> p[0], p -> p[1]).size());
        assertEquals(0, BatchRows.joining(BUNDLED, decode, List.of(new int[] {44, 44}), p -> p[0], p -> p[1]).size());
    }

    @Test
    void flatRowsMapBackToTheirSequences() {
        BatchRows uniform = new BatchRows(new int[] {3, 1}, new int[] {9, 4}, new int[][] {{5}, {6}});
        assertFalse(uniform.flat());
        assertArrayEquals(new int[][] {{5}, {6}}, uniform.tokens());
        BatchRows flat = new BatchRows(new int[] {3, 1}, new int[] {9, 0}, new int[][] {{5}, {7, 8, 9}});
        assertTrue(flat.flat());
        assertArrayEquals(new int[][] {{5}, {7}, {8}, {9}}, flat.tokens());
        try (NDManager m = NDManager.newBaseManager()) {
            // rows 0..3, each row's D = 2 values its row number
            NDArray y = m.create(new float[] {0, 0, 1, 1, 2, 2, 3, 3}, new Shape(4, 1, 2));
            assertEquals(new Shape(1, 3, 2), flat.rowsOf(y, 1).getShape());
            assertArrayEquals(new float[] {1, 1, 2, 2, 3, 3}, flat.rowsOf(y, 1).toFloatArray());
            assertArrayEquals(new float[] {0, 0}, flat.rowsOf(y, 0).toFloatArray());
            NDArray last = flat.lastOfEach(y);
            assertEquals(new Shape(2, 1, 2), last.getShape());
            assertArrayEquals(new float[] {0, 0, 3, 3}, last.toFloatArray());
            // the hidden states [1, T, D] of the sequences joined into the flat batch's rows
            NDArray joined = flat.join(List.of(m.create(new float[] {0, 0}, new Shape(1, 1, 2)),
                    m.create(new float[] {1, 1, 2, 2, 3, 3}, new Shape(1, 3, 2))));
            assertEquals(new Shape(4, 1, 2), joined.getShape());
            assertArrayEquals(y.toFloatArray(), joined.toFloatArray());
        }
    }
}
