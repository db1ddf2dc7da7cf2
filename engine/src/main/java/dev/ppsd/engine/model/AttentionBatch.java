package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.Bfloat16;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What every layer of one forward call shares: which cache slot and start position each batch row has,
 * the RoPE tables for those positions, how the rows address the KV cache and the additive attention mask.
 * Row {@code b}, query {@code t} sits at position {@code p = start[b] + t} and may attend to positions
 * {@code <= p}, and with a sliding window {@code W} ({@link Rope#slidingWindow}) only to those {@code > p - W}
 * (transformers' rule: the query itself and the {@code W - 1} keys before it).
 *
 * <p>Glossary: the <em>batch rows</em> are the {@code B} sequences of the call; the <em>attention rows</em>
 * are the {@code R} rows attention runs over. A cached batch whose slots lie densely in a run of cache
 * slots attends over that <em>window</em> of the cache in place ({@code R} = window size, no copy of K/V):
 * its queries are scattered into window rows first and the outputs picked back. A sparse batch (a few
 * slots spread over a large cache) gathers its slots' K/V instead ({@code R = B}). A {@link BatchRows} flat batch
 * ({@link #flat}) has single tokens as its batch rows and, after them, <em>runs</em>: a prompt's tokens, which attend
 * over their slot in place as the prompt alone would.
 */
public final class AttentionBatch {
    /** A window may hold at most this many attention rows per batch row; sparser batches gather. */
    static final int MAX_WINDOW_PER_ROW = 3;

    final int[] start;
    final int[] slots;
    final NDArray[] ropeTables; // cos and signed sin [B, 1, T, hd] ({@link Rope#tables})
    final NDArray mask; // [R, 1, 1, T, L] additive: 0 or -inf, in the model's type
    final int attend; // L = max(start) + T
    final int windowFrom; // window mode: attention row r is cache slot windowFrom + r; -1 when gathering
    final int rows; // R
    // a flat batch ({@link #flat}): its first batchRows rows attend as above; each run of {@code runs} (first row,
    // rows, slot, keys: four ints a run) attends in place over its slot under its mask in runMasks; else batchRows = B
    private final int batchRows;
    private final int[] runs;
    private final NDArray[] runMasks;
    // how a cached forward addresses the cache (null uncached): slots [B, 1] and positions [B, T] where the new K/V go
    // (B > 1), the attention row of each batch row [B] (when they are not the same rows), the slots to gather [B]
    // (gather mode); an entry not needed holds the positions
    private final NDArray[] cacheIndex;
    private final boolean pickRows;

    private AttentionBatch(int[] start, int[] slots, NDArray[] ropeTables, NDArray mask, int attend, int windowFrom,
            int rows, NDArray[] cacheIndex, boolean pickRows) {
        this(start, slots, ropeTables, mask, attend, windowFrom, rows, cacheIndex, pickRows, start.length, new int[0],
                new NDArray[0]);
    }

    private AttentionBatch(int[] start, int[] slots, NDArray[] ropeTables, NDArray mask, int attend, int windowFrom,
            int rows, NDArray[] cacheIndex, boolean pickRows, int batchRows, int[] runs, NDArray[] runMasks) {
        this.batchRows = batchRows;
        this.runs = runs;
        this.runMasks = runMasks;
        this.start = start;
        this.slots = slots;
        this.ropeTables = ropeTables;
        this.mask = mask;
        this.attend = attend;
        this.windowFrom = windowFrom;
        this.rows = rows;
        this.cacheIndex = cacheIndex;
        this.pickRows = pickRows;
    }

    /** For a cached forward of {@code t} new tokens per row. */
    public static AttentionBatch cached(NDManager m, Rope rope, int[] start, int[] slots, int t) {
        return cached(m, rope, start, slots, t, start.length);
    }

    /**
     * For a flat cached forward ({@link BatchRows}): one token a row. Rows {@code [0, batchRows)} are single tokens of
     * distinct slots and attend as the rows of {@link #cached} do; the rows after them are runs of consecutive
     * positions of one slot each (a prompt's tokens), and each run attends over its slot in place, as that prompt
     * alone would: no copy of its keys and values, whatever else the call holds.
     */
    public static AttentionBatch flat(NDManager m, Rope rope, int[] start, int[] slots, int batchRows) {
        return cached(m, rope, start, slots, 1, batchRows);
    }

    private static AttentionBatch cached(NDManager m, Rope rope, int[] start, int[] slots, int t, int nb) {
        int n = start.length;
        int attend = 0;
        int lo = Integer.MAX_VALUE;
        int hi = Integer.MIN_VALUE;
        for (int r = 0; r < nb; r++) {
            attend = Math.max(attend, start[r] + t);
            lo = Math.min(lo, slots[r]);
            hi = Math.max(hi, slots[r] + 1);
        }
        // a window holds one attention row per slot: rows that share a slot gather their slot's K/V instead
        boolean window = nb == 0 || hi - lo <= MAX_WINDOW_PER_ROW * nb && distinct(slots, nb);
        int rows = nb == 0 ? 0 : window ? hi - lo : nb;
        // attention row of batch row r; rows of the window that no batch row uses keep a zero mask (their
        // output is dropped, and a zero mask keeps their softmax finite)
        int[] rowOf = new int[nb];
        boolean identity = true;
        for (int r = 0; r < nb; r++) {
            rowOf[r] = window ? slots[r] - lo : r;
            identity &= rowOf[r] == r;
        }
        long[] pos = new long[n * t];
        for (int r = 0; r < n; r++) {
            for (int q = 0; q < t; q++) {
                pos[r * t + q] = start[r] + q;
            }
        }
        // (no batch rows: a mask of one zero that no statement reads)
        float[] mask = new float[Math.max(rows * t * attend, 1)];
        for (int r = 0; r < nb; r++) {
            for (int q = 0; q < t; q++) {
                maskRow(mask, (rowOf[r] * t + q) * attend, start[r] + q, attend, rope.slidingWindow());
            }
        }
        // the runs after the batch rows: first row, rows, slot, keys; each under a causal mask of its own
        List<int[]> runList = new ArrayList<>();
        List<NDArray> runMasks = new ArrayList<>();
        for (int r = nb; r < n; ) {
            int e = r + 1;
            while (e < n && slots[e] == slots[r] && start[e] == start[e - 1] + 1) {
                e++;
            }
            int keys = start[e - 1] + 1;
            float[] runMask = new float[(e - r) * keys];
            for (int q = 0; q < e - r; q++) {
                maskRow(runMask, q * keys, start[r] + q, keys, rope.slidingWindow());
            }
            runList.add(new int[] {r, e - r, slots[r], keys});
            runMasks.add(mask(m, rope, runMask, new Shape(1, 1, 1, e - r, keys)));
            r = e;
        }
        int[] runs = new int[runList.size() * 4];
        for (int i = 0; i < runList.size(); i++) {
            System.arraycopy(runList.get(i), 0, runs, 4 * i, 4);
        }
        NDArray positions = m.create(pos, new Shape(n, t));
        // one row (always a window of one slot) is written by slicing and needs no slot tensor
        NDArray slotIndex = n > 1 ? ints(m, slots) : null; // [B]
        NDArray gatherIndex = window ? positions : nb == n ? slotIndex : ints(m, Arrays.copyOf(slots, nb));
        NDArray[] cacheIndex = {n > 1 ? slotIndex.reshape(n, 1) : positions, positions,
            identity ? positions : ints(m, rowOf), gatherIndex};
        Shape maskShape = nb == 0 ? new Shape(1, 1, 1, 1, 1) : new Shape(rows, 1, 1, t, attend);
        return new AttentionBatch(start, slots, rope.tables(positions), mask(m, rope, mask, maskShape), attend,
                window ? (nb == 0 ? 0 : lo) : -1, rows, cacheIndex, !identity, nb, runs,
                runMasks.toArray(new NDArray[0]));
    }

    /** Whether the batch rows' attention gathers their K/V (sparse slots) rather than reading a window in place. */
    boolean gathers() {
        return windowFrom < 0;
    }

    /**
     * The index tensors {@code cached_layers} reads ({@link DecoderLayer}): where the new K/V go when there are
     * several rows (slots {@code [B, 1]}, positions {@code [B, T]}), the attention row of each batch row, the slots to
     * gather.
     */
    NDArray[] cacheIndex() {
        return cacheIndex;
    }

    /**
     * The integers {@code cached_layers} reads for {@code layers} layers: the layer count, whether one row is written
     * by slicing (1) or several by index, whether the attention rows are a window of slots in place (1) or gathered,
     * whether outputs are picked back from attention rows (1), the one row's slot and start, the window's first slot,
     * R and L, the batch rows (all rows unless flat), the runs of a flat batch and four ints a run (first row, rows,
     * slot, keys).
     */
    long[] cacheInts(int layers) {
        long[] ints = new long[11 + runs.length];
        long[] head = {layers, slots.length == 1 ? 1 : 0, windowFrom >= 0 ? 1 : 0, pickRows ? 1 : 0, slots[0],
            start[0], Math.max(windowFrom, 0), rows, attend, batchRows, runs.length / 4};
        System.arraycopy(head, 0, ints, 0, head.length);
        for (int i = 0; i < runs.length; i++) {
            ints[11 + i] = runs[i];
        }
        return ints;
    }

    /** The masks {@code cached_layers} reads: the batch rows' {@code [R, 1, 1, T, L]}, then each run's. */
    NDArray[] masks() {
        NDArray[] masks = new NDArray[1 + runMasks.length];
        masks[0] = mask;
        System.arraycopy(runMasks, 0, masks, 1, runMasks.length);
        return masks;
    }

    /** Masks, in the row of {@code attend} keys at {@code at}, the keys a query at {@code p} may not see. */
    private static void maskRow(float[] mask, int at, int p, int attend, int slidingWindow) {
        for (int j = p + 1; j < attend; j++) {
            mask[at + j] = Float.NEGATIVE_INFINITY; // the future
        }
        for (int j = 0; slidingWindow > 0 && j <= p - slidingWindow; j++) {
            mask[at + j] = Float.NEGATIVE_INFINITY; // older than the window
        }
    }

    /** The mask values as a tensor in the type of the rope's tables (the activations'). */
    private static NDArray mask(NDManager m, Rope rope, float[] values, Shape shape) {
        NDArray mask = m.create(values, shape);
        return rope.dataType() == DataType.FLOAT32 ? mask : Bfloat16.toType(mask, rope.dataType());
    }

    /** For an uncached (training / scoring) forward of whole sequences starting at position 0. */
    public static AttentionBatch causal(NDManager m, Rope rope, int b, int t) {
        long[] pos = new long[b * t];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = i % t;
        }
        float[] mask = new float[t * t];
        for (int q = 0; q < t; q++) {
            maskRow(mask, q * t, q, t, rope.slidingWindow());
        }
        return new AttentionBatch(new int[b], new int[b], rope.tables(m.create(pos, new Shape(b, t))),
                mask(m, rope, mask, new Shape(1, 1, 1, t, t)), t, 0, b, null, false);
    }

    /**
     * For an uncached forward whose rows are not a plain causal sequence (the SPD head's training layout, where
     * several rows share a position): query {@code t} of row {@code b} sits at {@code positions[b * T + t]} and sees
     * key {@code j} iff {@code visible[b][t * T + j]}.
     */
    public static AttentionBatch masked(NDManager m, Rope rope, long[] positions, boolean[][] visible, int t) {
        int b = visible.length;
        float[] mask = new float[b * t * t];
        for (int r = 0; r < b; r++) {
            for (int i = 0; i < t * t; i++) {
                mask[r * t * t + i] = visible[r][i] ? 0 : Float.NEGATIVE_INFINITY;
            }
        }
        return new AttentionBatch(new int[b], new int[b], rope.tables(m.create(positions, new Shape(b, t))),
                mask(m, rope, mask, new Shape(b, 1, 1, t, t)), t, 0, b, null, false);
    }

    /** Whether the first {@code n} slots differ from each other. */
    private static boolean distinct(int[] slots, int n) {
        int[] sorted = Arrays.copyOf(slots, n);
        Arrays.sort(sorted);
        for (int i = 1; i < n; i++) {
            if (sorted[i] == sorted[i - 1]) {
                return false;
            }
        }
        return true;
    }

    private static NDArray ints(NDManager m, int[] v) {
        return m.create(v).toType(DataType.INT64, false);
    }
}
