package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * A contiguous range of decoder layers {@code [from, to)} with its weights on one device: a whole model,
 * one PPSD pipeline stage, or the exit head's single layer. Each stack has its own {@link KvCache}.
 */
public final class LayerStack {
    private final LlamaConfig config;
    private final LayerWeights[] layers;
    private final int from;
    private final Device device;
    private final Rope rope;

    public LayerStack(LlamaConfig config, LayerWeights[] layers, int from, Device device, Rope rope) {
        this.config = config;
        this.layers = layers;
        this.from = from;
        this.device = device;
        this.rope = rope;
    }

    public int from() {
        return from;
    }

    public int to() {
        return from + layers.length;
    }

    public int size() {
        return layers.length;
    }

    public Device device() {
        return device;
    }

    public Rope rope() {
        return rope;
    }

    public LlamaConfig config() {
        return config;
    }

    /** A cache for this stack's layers: {@code slots} sequences of up to {@code maxLen} positions, in the weights' type. */
    public KvCache newCache(NDManager parent, int slots, int maxLen) {
        return new KvCache(config, layers.length, slots, maxLen, parent, device, dev.ppsd.engine.runtime.Bfloat16.typeOf(layers[0].q()));
    }

    /** Runs every layer of the stack on {@code x [B, T, D]} (cached when {@code cache != null}). */
    public NDArray forward(NDArray x, AttentionBatch a, KvCache cache) {
        return forward(x, a, cache, new int[0], new NDArray[0]);
    }

    /**
     * As {@link #forward(NDArray, AttentionBatch, KvCache)}, also keeping the residual stream at some depths of the
     * model: {@code kept[i]} becomes the state {@code [B, T, D]} after the model's first {@code depths[i]} layers
     * when this stack computes it ({@code from < depths[i] <= to}), and is left as it is otherwise. With a cache, the
     * layers up to each kept state run as one call ({@link DecoderLayer#forward}), so what the call leaves in the
     * caller's {@code NDScope} is the result and the kept states only.
     */
    public NDArray forward(NDArray x, AttentionBatch a, KvCache cache, int[] depths, NDArray[] kept) {
        NDArray h = x;
        for (int i = 0; i < layers.length; ) {
            int end = layers.length; // up to the next depth to keep
            for (int d : depths) {
                if (d - from > i && d - from < end) {
                    end = d - from;
                }
            }
            h = DecoderLayer.forward(config, layers, i, end, h, a, cache);
            for (int j = 0; j < depths.length; j++) {
                if (depths[j] == from + end) {
                    kept[j] = h;
                }
            }
            i = end;
        }
        return h;
    }

    /** The attention inputs for a cached forward of {@code t} tokens per row on this stack's device. */
    public AttentionBatch batch(NDManager m, int[] start, int[] slots, int t) {
        return AttentionBatch.cached(m, rope, start, slots, t);
    }
}
