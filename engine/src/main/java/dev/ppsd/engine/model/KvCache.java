package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.Bfloat16;

import java.util.Arrays;

/**
 * Key/value cache for a contiguous range of layers, for a fixed number of sequence slots. Each layer holds
 * preallocated {@code K, V [slots, kvHeads, maxLen, hd]} buffers written in place, and its own length per
 * slot (in PPSD, deeper layers lag behind shallower ones). Truncating only moves the length: positions at
 * or past the length are masked out by position and overwritten by later writes.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final NDArray[] keys;
    private final NDArray[] values;
    private final int[][] lengths; // [layer][slot]
    private int maxLen;
    private NDArray[] gathered; // two flat buffers for one layer's gathered K and V ({@link #gatherBuffers})

    /** A float32 cache. */
    public KvCache(LlamaConfig c, int layers, int slots, int maxLen, NDManager parent, Device device) {
        this(c, layers, slots, maxLen, parent, device, DataType.FLOAT32);
    }

    /** A cache holding K and V in {@code type} (the model's weights' type). */
    public KvCache(LlamaConfig c, int layers, int slots, int maxLen, NDManager parent, Device device, DataType type) {
        if (slots <= 0 || maxLen <= 0) {
            throw new IllegalArgumentException("KV cache needs slots > 0 and maxLen > 0 but got " + slots + ", " + maxLen);
        }
        this.manager = parent.newSubManager(device);
        this.maxLen = maxLen;
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        this.lengths = new int[layers][slots];
        Shape shape = new Shape(slots, c.numKeyValueHeads(), maxLen, c.headDim());
        for (int l = 0; l < layers; l++) {
            keys[l] = zeros(shape, type);
            values[l] = zeros(shape, type);
        }
    }

    /** A zero buffer of {@code type} (bfloat16 made from float32 zeros: DJL cannot name bfloat16). */
    private NDArray zeros(Shape shape, DataType type) {
        if (type != DataType.BFLOAT16) {
            return manager.zeros(shape, type);
        }
        try (NDArray wide = manager.zeros(shape, DataType.FLOAT32)) {
            return Bfloat16.of(wide);
        }
    }

    /**
     * The positions a batch's cache is first made with, for a first need of {@code length}: the next power of two, at
     * most {@code cap}. Sequences of similar lengths then fit without growing it, and growing doubles: either way
     * the buffers stay under twice what the longest sequence needs. (Fresh memory costs most at its first touch: in
     * the 2-core VM, sizing the 97M model's caches for the first prompt and growing them for a longer one took 0.9–1.2
     * s of a 10 s run.)
     */
    public static int firstLength(int length, int cap) {
        int pow2 = length <= 1 ? 1 : Integer.highestOneBit(length - 1) << 1;
        return Math.max(length, Math.min(cap, pow2 > 0 ? pow2 : Integer.MAX_VALUE));
    }

    public int layers() {
        return keys.length;
    }

    public int slots() {
        return lengths.length == 0 ? 0 : lengths[0].length;
    }

    public int maxLen() {
        return maxLen;
    }

    /** The type K and V are held in. */
    public DataType dataType() {
        return keys.length == 0 ? DataType.FLOAT32 : Bfloat16.typeOf(keys[0]);
    }

    /**
     * Makes room for {@code length} positions per slot: the buffers grow (to at least twice their length, at most
     * {@code cap}) and keep what they hold. Sequences of very different lengths then cost what the longest one in
     * flight needs, not what the model's context could hold.
     */
    public void ensureLength(int length, int cap) {
        if (length <= maxLen) {
            return;
        }
        if (length > cap) {
            throw new IllegalArgumentException("KV cache of " + length + " positions asked for, but at most " + cap);
        }
        int grown = Math.max(length, Math.min(cap, 2 * maxLen));
        NDIndex held = new NDIndex().addAllDim(2).addSliceDim(0, maxLen).addAllDim();
        for (int l = 0; l < keys.length; l++) {
            keys[l] = grow(keys[l], grown, held);
            values[l] = grow(values[l], grown, held);
        }
        maxLen = grown;
    }

    /** {@code [slots, KV, maxLen, hd] -> [slots, KV, grown, hd]}, the held positions copied. */
    private NDArray grow(NDArray a, int grown, NDIndex held) {
        Shape s = a.getShape();
        NDArray b = zeros(new Shape(s.get(0), s.get(1), grown, s.get(3)), dataType());
        b.set(held, a);
        a.close();
        return b;
    }

    /**
     * Two flat buffers of at least {@code n} numbers each, in the cache's type on its device, into which a layer that
     * gathers its rows' K/V ({@link AttentionBatch}: sparse slots) copies them; every layer and call reuses them,
     * growing them when a call needs more. A fresh tensor per layer is fresh memory to the allocator, and on a CPU its
     * first touch costs about 10 µs a 4 KiB page in the 2-core VM: a call of the 97M model that gathered 8 decode rows
     * and a 13-token prompt's rows (6 layers) took 60–100 ms so, against 52 ms with the pages kept.
     */
    NDArray[] gatherBuffers(long n) {
        if (gathered == null || gathered[0].size() < n) {
            long size = gathered == null ? n : Math.max(n, 2 * gathered[0].size());
            if (gathered != null) {
                gathered[0].close();
                gathered[1].close();
            }
            gathered = new NDArray[] {zeros(new Shape(size), dataType()), zeros(new Shape(size), dataType())};
            ai.djl.ndarray.NDScope.unregister(gathered); // (made in a call's scope, kept with the cache)
        }
        return gathered;
    }

    /** Number of positions of {@code slot} stored in layer {@code layer} (relative to this cache's range). */
    public int length(int layer, int slot) {
        return lengths[layer][slot];
    }

    /** Truncates every layer of {@code slot} to at most {@code length} positions (a PPSD/EESD flush). */
    public void truncate(int slot, int length) {
        for (int[] l : lengths) {
            l[slot] = Math.min(l[slot], length);
        }
    }

    /**
     * Truncates {@code slot} to {@code length} positions in each of {@code caches} (null ones skipped): the caches
     * that hold one sequence's positions roll back together (a PPSD flush, an EESD round).
     */
    public static void truncate(int slot, int length, KvCache... caches) {
        for (KvCache c : caches) {
            if (c != null) {
                c.truncate(slot, length);
            }
        }
    }

    /**
     * Copies positions {@code [from, to)} of {@code slot} out of every layer: {@code k[l], v[l]} of shape
     * {@code [KV, to - from, hd]}, owned by {@code owner} (outside any NDScope).
     */
    public NDArray[][] copyOut(int slot, int from, int to, NDManager owner) {
        NDIndex at = new NDIndex().addIndices(slot).addAllDim().addSliceDim(from, to).addAllDim();
        NDArray[][] out = new NDArray[2][keys.length];
        for (int l = 0; l < keys.length; l++) {
            out[0][l] = keep(keys[l].get(at).duplicate(), owner); // [slots, KV, L, hd] -> [KV, to - from, hd]
            out[1][l] = keep(values[l].get(at).duplicate(), owner);
        }
        return out;
    }

    private static NDArray keep(NDArray a, NDManager owner) {
        ai.djl.ndarray.NDScope.unregister(a);
        a.attach(owner);
        return a;
    }

    /**
     * Writes {@code k[l], v[l]} ({@code [KV, n, hd]} per layer) at positions {@code [0, n)} of {@code slot}, which then
     * holds those n positions in every layer (a prefix computed for another sequence).
     */
    public void copyIn(int slot, NDArray[] k, NDArray[] v) {
        int n = (int) k[0].getShape().get(1);
        ensureLength(n, n);
        NDIndex at = new NDIndex().addIndices(slot).addAllDim().addSliceDim(0, n).addAllDim();
        for (int l = 0; l < keys.length; l++) {
            keys[l].set(at, k[l]);
            values[l].set(at, v[l]);
            lengths[l][slot] = n;
        }
    }

    /** Forgets everything of {@code slot} (a new sequence takes it). */
    public void reset(int slot) {
        for (int[] l : lengths) {
            l[slot] = 0;
        }
    }

    /**
     * Checks that layers {@code [from, to)} can take {@code t} new positions per batch row at the batch's start
     * positions: inside the buffers, and right after what each slot holds (no gap). {@link DecoderLayer} then writes
     * them ({@link #keys}, {@link #values}) and records them ({@link #wrote}).
     */
    void checkWrite(int from, int to, AttentionBatch a, int t) {
        // rows that share a slot (a prompt's tokens, a row each) are consecutive and write one run of positions: its
        // first row must follow what the slot holds
        for (int b = 0; b < a.slots.length; b++) {
            int end = a.start[b] + t;
            if (end > maxLen) {
                throw new IllegalStateException("KV cache full: position " + end + " > maxLen " + maxLen);
            }
            int slot = a.slots[b];
            if (b > 0 && slot == a.slots[b - 1]) {
                continue;
            }
            for (int layer = from; layer < to; layer++) {
                if (a.start[b] > lengths[layer][slot]) {
                    throw new IllegalStateException("KV cache gap in layer " + layer + " slot " + slot
                            + ": writing at " + a.start[b] + " but length is " + lengths[layer][slot]);
                }
            }
        }
    }

    /** The key buffers {@code [slots, KV, maxLen, hd]} of layers {@code [from, to)}, written in place. */
    NDArray[] keys(int from, int to) {
        return Arrays.copyOfRange(keys, from, to);
    }

    /** The value buffers of layers {@code [from, to)}. */
    NDArray[] values(int from, int to) {
        return Arrays.copyOfRange(values, from, to);
    }

    /**
     * Records that layers {@code [from, to)} hold each batch row's slot up to its start + {@code t} (rows that share a
     * slot are a run of consecutive positions: its last row, written last, sets the slot's length).
     */
    void wrote(int from, int to, AttentionBatch a, int t) {
        for (int layer = from; layer < to; layer++) {
            for (int b = 0; b < a.slots.length; b++) {
                lengths[layer][a.slots[b]] = a.start[b] + t;
            }
        }
    }

    @Override
    public String toString() {
        return "KvCache" + Arrays.deepToString(lengths);
    }

    @Override
    public void close() {
        manager.close();
    }
}
