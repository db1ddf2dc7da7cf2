package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.runtime.Bfloat16;

/**
 * The one way every scheduler runs the model: a range of layers {@code [from, to)} with its weights on one device
 * — the whole model for {@code ar}, the layers below and above the exit layer for {@code eesd}, one pipeline stage.
 * A range that starts at layer 0 embeds token ids; one that ends at the last layer applies the final norm and the
 * LM head. Callers run a step inside their own {@code NDScope} (a decode step, a stage's cycle): what they keep
 * past it (a hand-off state) they unregister themselves.
 */
public final class ModelRunner {
    private final LlamaConfig config;
    private final NDManager manager;
    private final LayerStack layers;
    private final NDArray embed; // [V, D]; null unless the range starts at layer 0
    private final NDArray finalNorm; // [D]; null unless the range ends at the last layer
    private final NDArray lmHead; // [V, D]; null unless the range ends at the last layer

    private ModelRunner(LlamaModel model, int from, int to, Device device, NDManager manager) {
        this.config = model.config();
        this.manager = manager;
        this.layers = device.equals(model.device()) ? model.stack(from, to) : model.stackOn(from, to, device, manager);
        boolean last = to == config.numHiddenLayers();
        this.embed = from == 0 ? on(model.weights().embed(), device) : null;
        this.finalNorm = last ? on(model.weights().finalNorm(), device) : null;
        this.lmHead = last ? on(model.weights().lmHead(), device) : null;
    }

    /** Layers {@code [from, to)} of {@code model} on its own device, sharing its weights. */
    public static ModelRunner of(LlamaModel model, int from, int to) {
        return new ModelRunner(model, from, to, model.device(), model.manager());
    }

    /**
     * Layers {@code [from, to)} of {@code model} on {@code device}: the weights are copied there (owned by
     * {@code owner}) unless the model already is on it.
     */
    public static ModelRunner on(LlamaModel model, int from, int to, Device device, NDManager owner) {
        return new ModelRunner(model, from, to, device, owner);
    }

    private NDArray on(NDArray a, Device device) {
        if (a.getDevice().equals(device)) {
            return a;
        }
        return Bfloat16.toDevice(a, device, manager); // (DJL cannot move bfloat16 itself)
    }

    /** The range's layers (and its rotary tables and device). */
    public LayerStack layers() {
        return layers;
    }

    /** The manager that owns what this runner copied (the model's own when it runs on the model's device). */
    public NDManager manager() {
        return manager;
    }

    /** A KV cache for this range: {@code slots} sequences of up to {@code maxLen} positions. */
    public KvCache newCache(int slots, int maxLen) {
        return layers.newCache(manager, slots, maxLen);
    }

    /** The attention inputs of a cached forward of {@code t} tokens per row. */
    public AttentionBatch batch(int[] start, int[] slots, int t) {
        return layers.batch(manager, start, slots, t);
    }

    /**
     * The attention inputs of a flat cached forward ({@link BatchRows}): rows {@code [0, singleRows)} single tokens of
     * distinct slots, then runs of one slot's consecutive positions ({@link AttentionBatch#flat}).
     */
    public AttentionBatch flatBatch(int[] start, int[] slots, int singleRows) {
        return AttentionBatch.flat(manager, layers.rope(), start, slots, singleRows);
    }

    /** Token embeddings (a range that starts at layer 0): ids {@code [B][T] -> [B, T, D]}. */
    public NDArray embed(int[][] tokens) {
        if (embed == null) {
            throw new IllegalStateException("layers [" + layers.from() + ", " + layers.to() + ") do not embed tokens");
        }
        return LlamaModel.embed(embed, manager, tokens);
    }

    /** Runs the layers on {@code x [B, T, D] -> [B, T, D]}, writing their K/V into {@code cache}. */
    public NDArray forward(NDArray x, AttentionBatch a, KvCache cache) {
        return layers.forward(x, a, cache);
    }

    /** As {@link #forward(NDArray, AttentionBatch, KvCache)}, keeping states at model depths ({@link LayerStack}). */
    public NDArray forward(NDArray x, AttentionBatch a, KvCache cache, int[] depths, NDArray[] kept) {
        return layers.forward(x, a, cache, depths, kept);
    }

    /** Next-token logits of each row (a range that ends at the last layer): {@code [B, T, D] -> float[B][V]}. */
    public float[][] nextTokenLogits(NDArray h) {
        // only the last position of each row needs the LM head: [B, T, D] -> [B, 1, D]
        return logits(h.getShape().get(1) == 1 ? h : h.get(":, -1:, :"));
    }

    /** The logits of every position: {@code [B, T, D] -> float[B*T][V]}. */
    public float[][] logits(NDArray h) {
        if (lmHead == null) {
            throw new IllegalStateException("layers [" + layers.from() + ", " + layers.to() + ") end before the LM head");
        }
        return LlamaModel.rows(DecoderLayer.lmHead(h, finalNorm, lmHead, config.rmsNormEps()));
    }
}
