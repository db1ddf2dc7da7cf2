package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.nio.file.Path;

/**
 * A loaded decoder of any {@link Family}: config, weights in one long-lived manager, RoPE tables, on one device, in
 * one type ({@link #dataType()}: float32, bfloat16 or float16 weights, KV caches and activations; logits always
 * float32).
 * Exposes the pieces the schedulers compose: {@link #embed}, {@link #stack} (any layer range) and
 * {@link #logits} (final norm + LM head).
 */
public final class LlamaModel implements AutoCloseable {
    private final LlamaConfig config;
    private final NDManager manager;
    private final LlamaWeights weights;
    private final Rope rope;
    private final Device device;
    private final Path dir;

    private LlamaModel(Path dir, LlamaConfig config, NDManager manager, LlamaWeights weights, Device device) {
        this.dir = dir;
        this.config = config;
        this.manager = manager;
        this.weights = weights;
        this.device = device;
        this.rope = new Rope(config, manager, Bfloat16.typeOf(weights.embed()));
    }

    /** Loads {@code dir} (config.json + model.safetensors) onto the CPU in float32. */
    public static LlamaModel load(Path dir) {
        return load(dir, Device.cpu());
    }

    /** Loads {@code dir} (config.json + model.safetensors or sharded) onto {@code device} in float32. */
    public static LlamaModel load(Path dir, Device device) {
        return load(dir, device, DataType.FLOAT32);
    }

    /**
     * Loads {@code dir} onto {@code device} with the weights (and so the KV caches and activations) in
     * {@code type}: FLOAT32, BFLOAT16 or FLOAT16. Each tensor streams from the safetensors file to the device
     * (memory-mapped and converted there), so the Java heap never holds the model.
     */
    public static LlamaModel load(Path dir, Device device, DataType type) {
        return load(dir, device, c -> type);
    }

    /**
     * Loads {@code dir} for inference with the type a {@code dtype} setting names ({@link #dataType(String,
     * LlamaConfig, boolean)}; {@code gpu}: whether the stages run on a GPU). When they run on this CPU, the layers'
     * projections and an untied LM head are packed for oneDNN ({@link LlamaWeights#pack()}).
     */
    public static LlamaModel load(Path dir, Device device, String dtype, boolean gpu) {
        LlamaModel model = load(dir, device, c -> dataType(dtype, c, gpu));
        if (!gpu) { // the stages run on this CPU: pack the projections and an untied LM head for oneDNN once
            model.weights.pack();
        }
        return model;
    }

    /** Loads {@code dir} with the type {@code typeFor} picks for its config. */
    private static LlamaModel load(Path dir, Device device, java.util.function.Function<LlamaConfig, DataType> typeFor) {
        DjlRuntime.init();
        LlamaConfig c = LlamaConfig.load(dir);
        DataType type = typeFor.apply(c);
        if (type != DataType.FLOAT32 && type != DataType.BFLOAT16 && type != DataType.FLOAT16) {
            throw new IllegalArgumentException("dtype must be float32, bfloat16 or float16 but was " + type);
        }
        NDManager m = NDManager.newBaseManager(device);
        try {
            return new LlamaModel(dir, c, m, LlamaWeights.load(dir, c, m, type), device);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * The type of a {@code dtype} setting: {@code float32}, {@code bfloat16}, {@code float16}, or {@code auto} =
     * float32 on a CPU and the checkpoint's {@code torch_dtype} on a GPU (float32 when that is none of the three).
     */
    public static DataType dataType(String dtype, LlamaConfig c, boolean gpu) {
        String name = dtype.equals("auto") ? (gpu ? c.torchDtype() : "float32") : dtype;
        return switch (name) {
            case "float32" -> DataType.FLOAT32;
            case "bfloat16" -> DataType.BFLOAT16;
            case "float16" -> DataType.FLOAT16;
            default -> {
                if (dtype.equals("auto")) {
                    yield DataType.FLOAT32;
                }
                throw new IllegalArgumentException("dtype must be auto, float32, bfloat16 or float16 but was "
                        + dtype);
            }
        };
    }

    /** The type of the weights, KV caches and activations. */
    public DataType dataType() {
        return Bfloat16.typeOf(weights.embed());
    }

    /** Wraps freshly made weights (trainer, tests); takes ownership of {@code manager}. */
    public static LlamaModel of(LlamaConfig c, NDManager manager, LlamaWeights weights) {
        return new LlamaModel(null, c, manager, weights, manager.getDevice());
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    public NDManager manager() {
        return manager;
    }

    public Device device() {
        return device;
    }

    public Rope rope() {
        return rope;
    }

    /** The folder the model was loaded from, or null for an in-memory model. */
    public Path dir() {
        return dir;
    }

    /** Token embeddings: ids {@code [B, T] -> [B, T, D]}. */
    public NDArray embed(NDManager m, int[][] tokens) {
        return embed(weights.embed(), m, tokens);
    }

    /** Looks up {@code tokens [B, T]} in the embedding table {@code table [V, D]} (on any device). */
    public static NDArray embed(NDArray table, NDManager m, int[][] tokens) {
        int vocab = (int) table.getShape().get(0);
        int b = tokens.length;
        int t = tokens[0].length;
        long[] flat = new long[b * t];
        for (int r = 0; r < b; r++) {
            if (tokens[r].length != t) {
                throw new IllegalArgumentException("all rows of a batch need the same length");
            }
            for (int i = 0; i < t; i++) {
                int id = tokens[r][i];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("token id " + id + " outside vocab [0, " + vocab + ")");
                }
                flat[r * t + i] = id;
            }
        }
        return table.get(m.create(flat, new Shape(b, t)).toDevice(table.getDevice(), false));
    }

    /** Layers {@code [from, to)} sharing this model's weights and device. */
    public LayerStack stack(int from, int to) {
        checkRange(from, to);
        LayerWeights[] ls = new LayerWeights[to - from];
        for (int i = from; i < to; i++) {
            ls[i - from] = weights.layer(i);
        }
        return new LayerStack(config, ls, from, device, rope);
    }

    /** Layers {@code [from, to)} copied onto {@code target}, owned by {@code owner} (a PPSD stage's device). */
    public LayerStack stackOn(int from, int to, Device target, NDManager owner) {
        checkRange(from, to);
        if (target.equals(device)) {
            return stack(from, to);
        }
        LayerWeights[] ls = new LayerWeights[to - from];
        for (int i = from; i < to; i++) {
            ls[i - from] = weights.layer(i).copyTo(owner, target);
        }
        return new LayerStack(config, ls, from, target, new Rope(config, owner, dataType()));
    }

    private void checkRange(int from, int to) {
        if (from < 0 || to > config.numHiddenLayers() || from >= to) {
            throw new IllegalArgumentException("layer range [" + from + ", " + to + ") must be inside [0, "
                    + config.numHiddenLayers() + ") and non-empty");
        }
    }

    /** Final RMSNorm + LM head: {@code [B, T, D] -> [B, T, V]}. */
    public NDArray logits(NDArray hidden) {
        return DecoderLayer.lmHead(hidden, weights.finalNorm(), weights.lmHead(), config.rmsNormEps());
    }

    /**
     * Convenience for tests and tools: runs {@code tokens} of one sequence in {@code slot} starting at
     * {@code start} through all layers with {@code cache} and returns the logits of every position
     * {@code [T][V]}.
     */
    public float[][] forwardLogits(KvCache cache, int slot, int[] tokens, int start) {
        try (NDScope ignored = new NDScope()) {
            ModelRunner all = ModelRunner.of(this, 0, config.numHiddenLayers());
            AttentionBatch a = all.batch(new int[] {start}, new int[] {slot}, tokens.length);
            return all.logits(all.forward(all.embed(new int[][] {tokens}), a, cache));
        }
    }

    /**
     * Logits {@code [..., V]} as one Java array per position: {@code [B, T, V] -> float[B*T][V]}, copied once from the
     * tensor's memory (read in place when it is a contiguous CPU tensor).
     */
    public static float[][] rows(NDArray logits) {
        java.nio.FloatBuffer all = logits.toByteBuffer(true).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
        int v = (int) logits.getShape().get(logits.getShape().dimension() - 1);
        float[][] out = new float[all.remaining() / v][v];
        for (float[] row : out) {
            all.get(row);
        }
        return out;
    }

    /** A KV cache for all layers of this model. */
    public KvCache newCache(int slots, int maxLen) {
        return new KvCache(config, config.numHiddenLayers(), slots, maxLen, manager, device, dataType());
    }

    @Override
    public void close() {
        weights.forgetPacked();
        manager.close();
    }
}
