package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * What every layer of one forward call shares: which cache slot and start position each batch row has,
 * the RoPE tables for those positions and the additive attention mask. Row {@code b}, query {@code t} sits
 * at position {@code start[b] + t} and may attend to positions {@code <= start[b] + t}.
 */
public final class AttentionBatch {
    final int[] start;
    final int[] slots;
    final NDArray slotIndex; // null when the slots are contiguous
    final NDArray[] cosSin; // [B, 1, T, hd] each
    final NDArray mask; // [B, 1, 1, T, L] additive: 0 or -inf
    final boolean cached;

    private AttentionBatch(int[] start, int[] slots, NDArray slotIndex, NDArray[] cosSin, NDArray mask,
            boolean cached) {
        this.start = start;
        this.slots = slots;
        this.slotIndex = slotIndex;
        this.cosSin = cosSin;
        this.mask = mask;
        this.cached = cached;
    }

    /** For a cached forward of {@code t} new tokens per row. */
    public static AttentionBatch cached(NDManager m, Rope rope, int[] start, int[] slots, int t) {
        int b = start.length;
        int attend = 0;
        for (int s : start) {
            attend = Math.max(attend, s + t);
        }
        long[] pos = new long[b * t];
        float[] mask = new float[b * t * attend];
        for (int r = 0; r < b; r++) {
            for (int q = 0; q < t; q++) {
                int p = start[r] + q;
                pos[r * t + q] = p;
                for (int j = p + 1; j < attend; j++) {
                    mask[(r * t + q) * attend + j] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        NDArray positions = m.create(pos, new Shape(b, t));
        NDArray slotIndex = KvCache.contiguous(slots) ? null : m.create(slots).toType(DataType.INT64, false);
        return new AttentionBatch(start, slots, slotIndex, rope.tables(positions),
                m.create(mask, new Shape(b, 1, 1, t, attend)), true);
    }

    /** For an uncached (training / scoring) forward of whole sequences starting at position 0. */
    public static AttentionBatch causal(NDManager m, Rope rope, int b, int t) {
        long[] pos = new long[b * t];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = i % t;
        }
        float[] mask = new float[t * t];
        for (int q = 0; q < t; q++) {
            for (int j = q + 1; j < t; j++) {
                mask[q * t + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return new AttentionBatch(new int[b], new int[b], null, rope.tables(m.create(pos, new Shape(b, t))),
                m.create(mask, new Shape(1, 1, 1, t, t)), false);
    }
}
