package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Automatic prefix caching for one {@link KvCache} (block-granular, as vLLM's): the K/V of the full
 * {@value #BLOCK}-token blocks of prompts already prefilled, keyed by the chain of blocks that leads to them, so a
 * prompt that starts with the same token ids (a system prompt, a few-shot block, a chat header) copies those
 * positions in instead of computing them. A block's K/V depends only on the tokens up to it, so the copy is what the
 * prefill would have written. Bounded by bytes, least recently used blocks evicted first.
 */
public final class PrefixStore implements AutoCloseable {
    /** Tokens per block: the granularity of matching. */
    public static final int BLOCK = 16;

    private final NDManager manager;
    private final long capacityBytes;
    private final long blockBytes;
    private final LinkedHashMap<Long, Block> blocks = new LinkedHashMap<>(64, 0.75f, true);
    private long lookups;
    private long hits;
    private long reusedTokens;

    /** One stored block: its own tokens (to rule out hash collisions) and each layer's K/V {@code [KV, BLOCK, hd]}. */
    private record Block(int[] tokens, NDArray[] k, NDArray[] v) {
    }

    /**
     * @param capacityBytes what the stored blocks may take
     * @param blockBytes    what one block takes (every layer of the cache, K and V)
     */
    public PrefixStore(NDManager parent, Device device, long capacityBytes, long blockBytes) {
        this.manager = parent.newSubManager(device);
        this.capacityBytes = capacityBytes;
        this.blockBytes = blockBytes;
    }

    /** {@code key[j]} names tokens {@code [0, BLOCK * (j + 1))} of {@code prompt}: a 64-bit hash chain. */
    private static long[] keys(int[] prompt, int blocks) {
        long[] keys = new long[blocks];
        long h = 0x9E3779B97F4A7C15L;
        for (int j = 0; j < blocks; j++) {
            for (int i = j * BLOCK; i < (j + 1) * BLOCK; i++) {
                h = (h ^ prompt[i]) * 0x100000001B3L;
                h ^= h >>> 29;
            }
            keys[j] = h;
        }
        return keys;
    }

    /** The length of the longest stored prefix of {@code prompt}: a multiple of BLOCK, shorter than the prompt. */
    public synchronized int match(int[] prompt) {
        int full = (prompt.length - 1) / BLOCK; // at least one token is left to prefill: it gives the first logits
        long[] keys = keys(prompt, full);
        int j = 0;
        while (j < full) {
            Block b = blocks.get(keys[j]);
            if (b == null || !Arrays.equals(b.tokens, Arrays.copyOfRange(prompt, j * BLOCK, (j + 1) * BLOCK))) {
                break;
            }
            j++;
        }
        return j * BLOCK;
    }

    /** Writes the first {@code length} positions of {@code prompt} ({@link #match}) into {@code slot} of the cache. */
    public synchronized void restore(KvCache cache, int slot, int[] prompt, int length) {
        lookups++;
        if (length == 0) {
            return;
        }
        long[] keys = keys(prompt, length / BLOCK);
        int layers = cache.layers();
        NDArray[] k = new NDArray[layers];
        NDArray[] v = new NDArray[layers];
        try (NDManager scratch = manager.newSubManager()) {
            for (int l = 0; l < layers; l++) {
                NDList ks = new NDList();
                NDList vs = new NDList();
                for (long key : keys) {
                    Block b = blocks.get(key);
                    ks.add(b.k[l]);
                    vs.add(b.v[l]);
                }
                // blocks x [KV, BLOCK, hd] -> [KV, length, hd]
                k[l] = ks.size() == 1 ? ks.get(0) : NDArrays.concat(ks, 1);
                v[l] = vs.size() == 1 ? vs.get(0) : NDArrays.concat(vs, 1);
                if (ks.size() > 1) {
                    k[l].attach(scratch);
                    v[l].attach(scratch);
                }
            }
            cache.copyIn(slot, k, v);
        }
        hits++;
        reusedTokens += length;
    }

    /** Stores the full blocks of {@code prompt} that {@code slot} of the cache holds and the store does not. */
    public void save(KvCache cache, int slot, int[] prompt) {
        save(cache, slot, prompt, Integer.MAX_VALUE);
    }

    /**
     * As {@link #save(KvCache, int, int[])}, among the first {@code upTo} positions only (the cache may hold rows
     * past them that are not yet final: an SPD head's rows of tokens still in flight).
     */
    public synchronized void save(KvCache cache, int slot, int[] prompt, int upTo) {
        int full = Math.min(prompt.length, Math.min(upTo, cache.length(0, slot))) / BLOCK;
        long[] keys = keys(prompt, full);
        for (int j = 0; j < full; j++) {
            if (blocks.containsKey(keys[j])) {
                continue;
            }
            if (blockBytes > capacityBytes) {
                return;
            }
            while (bytes() + blockBytes > capacityBytes) {
                evictOldest();
            }
            NDArray[][] kv = cache.copyOut(slot, j * BLOCK, (j + 1) * BLOCK, manager);
            blocks.put(keys[j], new Block(Arrays.copyOfRange(prompt, j * BLOCK, (j + 1) * BLOCK), kv[0], kv[1]));
        }
    }

    private long bytes() {
        return blocks.size() * blockBytes;
    }

    private void evictOldest() {
        Iterator<Map.Entry<Long, Block>> it = blocks.entrySet().iterator();
        Block b = it.next().getValue();
        it.remove();
        for (int l = 0; l < b.k.length; l++) {
            b.k[l].close();
            b.v[l].close();
        }
    }

    /** Blocks held now. */
    public synchronized int blocks() {
        return blocks.size();
    }

    /** Lookups, restores that reused at least one block, and prompt tokens reused, since creation. */
    public synchronized long[] counts() {
        return new long[] {lookups, hits, reusedTokens};
    }

    @Override
    public synchronized void close() {
        blocks.clear();
        manager.close();
    }
}
