package dev.ppsd.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BatchRows}: how a flat batch orders its rows (single tokens, then each prompt's run) and maps them back to its
 * sequences.
 * (That a flat call computes what separate calls do is {@code ReferenceForwardTest.flatBatchPromptsAmongDecodeTokens}.)
 */
class BatchRowsTest {
    @BeforeAll
    static void init() {
        DjlRuntime.init();
    }

    @Test
    void singleTokensComeFirstThenEachPromptInARun() {
        // sequences: a prompt of 3 (slot 1), a token (slot 3), a prompt of 2 (slot 0), a token (slot 2)
        BatchRows rows = new BatchRows(new int[] {1, 3, 0, 2}, new int[] {0, 9, 4, 7},
                new int[][] {{10, 11, 12}, {30}, {20, 21}, {40}});
        assertTrue(rows.flat());
        assertArrayEquals(new int[][] {{30}, {40}, {10}, {11}, {12}, {20}, {21}}, rows.tokens());
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray y = m.arange(7f).reshape(7, 1, 1); // row i holds i
            assertArrayEquals(new float[] {2, 3, 4}, rows.rowsOf(y, 0).toFloatArray());
            assertArrayEquals(new float[] {0}, rows.rowsOf(y, 1).toFloatArray());
            assertArrayEquals(new float[] {5, 6}, rows.rowsOf(y, 2).toFloatArray());
            assertArrayEquals(new float[] {1}, rows.rowsOf(y, 3).toFloatArray());
            // each sequence's last row, in the sequences' order
            assertArrayEquals(new float[] {4, 0, 6, 1}, rows.lastOfEach(y).toFloatArray());
            // hidden states [1, T, D] per sequence, in the sequences' order, become the rows in row order
            NDArray joined = rows.join(List.of(m.create(new float[] {2, 3, 4}, new Shape(1, 3, 1)),
                    m.create(new float[] {0}, new Shape(1, 1, 1)), m.create(new float[] {5, 6}, new Shape(1, 2, 1)),
                    m.create(new float[] {1}, new Shape(1, 1, 1))));
            assertArrayEquals(y.toFloatArray(), joined.toFloatArray());
        }
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

    /** The cache takes a prompt's run as one write: it must start where its slot ends, and it fills the slot. */
    @Test
    void aRunStartsWhereItsSlotEnds(@TempDir Path dir) throws IOException {
        ReferenceForwardTest.writeModel(dir, ReferenceForwardTest.config(16, 32, 2, 2, 1, 8, 32, 64, false), 51, "F32");
        try (LlamaModel model = LlamaModel.load(dir); KvCache cache = model.newCache(2, 64)) {
            ModelRunner all = ModelRunner.of(model, 0, 2);
            // slot 0 holds nothing: a run of 3 at position 2 would leave a gap
            BatchRows gap = new BatchRows(new int[] {1, 0}, new int[] {0, 2}, new int[][] {{5}, {6, 7, 8}});
            try (NDScope ignored = new NDScope()) {
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> all.forward(all.embed(gap.tokens()), gap.attention(all), cache));
                assertTrue(e.getMessage().startsWith("KV cache gap in layer 0 slot 0: writing at 2"), e.getMessage());
            }
            BatchRows fine = new BatchRows(new int[] {1, 0}, new int[] {0, 0}, new int[][] {{5}, {6, 7, 8}});
            try (NDScope ignored = new NDScope()) {
                all.forward(all.embed(fine.tokens()), fine.attention(all), cache);
            }
            assertEquals(3, cache.length(1, 0));
            assertEquals(1, cache.length(1, 1));
        }
    }
}
