package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

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
    private final int maxLen;

    public KvCache(LlamaConfig c, int layers, int slots, int maxLen, NDManager parent, Device device) {
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
            keys[l] = manager.zeros(shape, DataType.FLOAT32);
            values[l] = manager.zeros(shape, DataType.FLOAT32);
        }
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

    /** Forgets everything of {@code slot} (a new sequence takes it). */
    public void reset(int slot) {
        for (int[] l : lengths) {
            l[slot] = 0;
        }
    }

    /**
     * Writes {@code k, v [B, kvHeads, T, hd]} of layer {@code layer} at positions {@code start[b]..+T} of
     * {@code slots[b]}, then returns the cached keys and values of those slots {@code [B, kvHeads, L, hd]} for
     * {@code L = max(start) + T}. Rows past each slot's own end are masked by the caller.
     */
    NDArray[] appendAndRead(int layer, NDArray k, NDArray v, int[] start, int[] slots, NDArray slotIndex) {
        int t = (int) k.getShape().get(2);
        int attend = 0;
        for (int b = 0; b < slots.length; b++) {
            int end = start[b] + t;
            if (end > maxLen) {
                throw new IllegalStateException("KV cache full: position " + end + " > maxLen " + maxLen);
            }
            if (start[b] > lengths[layer][slots[b]]) {
                throw new IllegalStateException("KV cache gap in layer " + layer + " slot " + slots[b] + ": writing at "
                        + start[b] + " but length is " + lengths[layer][slots[b]]);
            }
            // [slot:slot+1, :, start:end, :] <- row b of k / v, [1, KV, T, hd]; built without string parsing
            NDIndex at = new NDIndex().addSliceDim(slots[b], slots[b] + 1L).addAllDim()
                    .addSliceDim(start[b], end).addAllDim();
            keys[layer].set(at, slots.length == 1 ? k : k.get(new NDIndex().addSliceDim(b, b + 1L)));
            values[layer].set(at, slots.length == 1 ? v : v.get(new NDIndex().addSliceDim(b, b + 1L)));
            lengths[layer][slots[b]] = end;
            attend = Math.max(attend, end);
        }
        NDIndex upTo = new NDIndex().addAllDim(2).addSliceDim(0, attend).addAllDim();
        NDArray kk = keys[layer].get(upTo);
        NDArray vv = values[layer].get(upTo);
        if (slotIndex != null) { // slots are not 0..B-1: gather the rows
            kk = kk.get(slotIndex);
            vv = vv.get(slotIndex);
        } else if (slots.length != slots()) {
            kk = kk.get("{}:{}", slots[0], slots[0] + slots.length);
            vv = vv.get("{}:{}", slots[0], slots[0] + slots.length);
        }
        return new NDArray[] {kk, vv};
    }

    /** True when {@code slots} is a contiguous run, which needs no gather. */
    static boolean contiguous(int[] slots) {
        for (int i = 1; i < slots.length; i++) {
            if (slots[i] != slots[0] + i) {
                return false;
            }
        }
        return true;
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
