package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.Safetensors;
import dev.ppsd.engine.checkpoint.ModelLoadException;

import ai.djl.ndarray.NDArray;
import dev.ppsd.engine.runtime.PackedLinear;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * All weights of a Llama decoder, owned by one long-lived {@link NDManager}: token embedding, the layers,
 * the final norm and the LM head (the embedding itself when {@code tie_word_embeddings}).
 */
public final class LlamaWeights {
    public static final String EMBED = "model.embed_tokens.weight";
    public static final String NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    private final NDArray embed; // [V, D]
    private final LayerWeights[] layers;
    private final NDArray finalNorm; // [D]
    private NDArray lmHead; // [V, D]; packed in place by pack() when untied

    public LlamaWeights(NDArray embed, LayerWeights[] layers, NDArray finalNorm, NDArray lmHead) {
        this.embed = embed;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    public NDArray embed() {
        return embed;
    }

    /**
     * Packs for oneDNN in place ({@link PackedLinear}: on a CPU, float32 or bfloat16) every layer's projections
     * ({@link LayerWeights#packed()}) and the LM head when it is not the embedding (a tied head stays plain: the
     * embedding lookup reads it), for inference: a packed weight serves the linears only and is not differentiable.
     */
    public void pack() {
        for (int i = 0; i < layers.length; i++) {
            layers[i] = layers[i].packed();
        }
        if (lmHead != embed) {
            lmHead = PackedLinear.pack(lmHead);
        }
    }

    /** Forgets the packed weights ({@link PackedLinear#forget}) before the owner closes them. */
    void forgetPacked() {
        for (LayerWeights l : layers) {
            l.projections().forEach(PackedLinear::forget);
        }
        PackedLinear.forget(lmHead);
    }

    public LayerWeights layer(int i) {
        return layers[i];
    }

    public int numLayers() {
        return layers.length;
    }

    public NDArray finalNorm() {
        return finalNorm;
    }

    public NDArray lmHead() {
        return lmHead;
    }

    /** HF name of tensor {@code suffix} of layer {@code i}, under {@code prefix} ("model." for the base model). */
    public static String layerName(String prefix, int i, String suffix) {
        return prefix + "layers." + i + "." + suffix;
    }

    /**
     * Loads {@code model.safetensors} (or the shards listed in {@code model.safetensors.index.json}) from
     * {@code dir}. Before any tensor is read, the checkpoint is checked against {@code c}: every tensor the config
     * needs is there with its shape, and every tensor there is one the config accounts for (see
     * {@link TensorSource#checkNames}). Float32 weights.
     */
    public static LlamaWeights load(Path dir, LlamaConfig c, NDManager manager) {
        return load(dir, c, manager, DataType.FLOAT32);
    }

    /**
     * As {@link #load(Path, LlamaConfig, NDManager)} with every weight held in {@code type} on {@code manager}'s
     * device, each streamed from the file ({@link Safetensors.Reader#toNDArray}: no tensor passes through the
     * Java heap).
     */
    public static LlamaWeights load(Path dir, LlamaConfig c, NDManager manager, DataType type) {
        try (TensorSource src = TensorSource.open(dir)) {
            Map<String, long[]> expected = check(src, c);
            NDArray embed = src.load(manager, EMBED, type, expected.get(EMBED));
            LayerWeights[] layers = new LayerWeights[c.numHiddenLayers()];
            List<String> names = LayerWeights.names(c);
            for (int i = 0; i < layers.length; i++) {
                List<NDArray> t = new ArrayList<>();
                for (String n : names) {
                    String name = layerName("model.", i, n);
                    t.add(src.load(manager, name, type, expected.get(name)));
                }
                layers[i] = LayerWeights.of(c, t);
            }
            NDArray norm = src.load(manager, NORM, type, expected.get(NORM));
            NDArray head = c.tieWordEmbeddings() ? embed : src.load(manager, LM_HEAD, type, expected.get(LM_HEAD));
            return new LlamaWeights(embed, layers, norm, head);
        }
    }

    /**
     * Checks the checkpoint in {@code dir} against {@code c} from its headers alone (no weight is read): every
     * tensor present, expected and of its shape, every data range inside its file. Throws
     * {@link ModelLoadException} naming the file.
     */
    public static void check(Path dir, LlamaConfig c) {
        try (TensorSource src = TensorSource.open(dir)) {
            check(src, c);
        }
    }

    private static Map<String, long[]> check(TensorSource src, LlamaConfig c) {
        Map<String, long[]> expected = expectedShapes(c);
        src.checkNames(expected, n -> harmless(n, c.tieWordEmbeddings()), "config.json (" + c.layout() + ")");
        return expected;
    }

    /** Every tensor a checkpoint of {@code c} must hold, by HF name, with its shape (in load order). */
    public static Map<String, long[]> expectedShapes(LlamaConfig c) {
        Map<String, long[]> out = new LinkedHashMap<>();
        out.put(EMBED, new long[] {c.vocabSize(), c.hiddenSize()});
        List<String> names = LayerWeights.names(c);
        long[][] shapes = LayerWeights.shapes(c);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (int j = 0; j < names.size(); j++) {
                out.put(layerName("model.", i, names.get(j)), shapes[j]);
            }
        }
        out.put(NORM, new long[] {c.hiddenSize()});
        if (!c.tieWordEmbeddings()) {
            out.put(LM_HEAD, new long[] {c.vocabSize(), c.hiddenSize()});
        }
        return out;
    }

    /**
     * Tensors a checkpoint may hold that the model does not use: RoPE's {@code inv_freq} buffers (older
     * transformers saved them; the engine computes its own) and, with tied embeddings, a stored
     * {@code lm_head.weight} (transformers ties it to the embedding and ignores the stored copy).
     */
    static boolean harmless(String name, boolean tiedLmHead) {
        return name.endsWith("rotary_emb.inv_freq") || (tiedLmHead && name.equals(LM_HEAD));
    }

    /** Random initialisation (normal, std 0.02; norms 1; residual projections scaled by 1/sqrt(2N)). */
    public static LlamaWeights random(LlamaConfig c, NDManager manager, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float std = 0.02f;
        float residualStd = (float) (std / Math.sqrt(2.0 * c.numHiddenLayers()));
        NDArray embed = normal(manager, rnd, std, c.vocabSize(), c.hiddenSize());
        LayerWeights[] layers = new LayerWeights[c.numHiddenLayers()];
        List<String> names = LayerWeights.names(c);
        long[][] shapes = LayerWeights.shapes(c);
        for (int i = 0; i < layers.length; i++) {
            List<NDArray> t = new ArrayList<>();
            for (int j = 0; j < shapes.length; j++) {
                String name = names.get(j);
                if (name.endsWith("norm.weight")) {
                    t.add(manager.ones(new Shape(shapes[j])));
                } else {
                    boolean residual = name.contains("o_proj") || name.contains("down_proj");
                    t.add(normal(manager, rnd, residual ? residualStd : std, shapes[j]));
                }
            }
            layers[i] = LayerWeights.of(c, t);
        }
        NDArray head = c.tieWordEmbeddings() ? embed : normal(manager, rnd, std, c.vocabSize(), c.hiddenSize());
        return new LlamaWeights(embed, layers, manager.ones(new Shape(c.hiddenSize())), head);
    }

    private static NDArray normal(NDManager m, SplittableRandom rnd, float std, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        return m.create(gaussian(rnd, n, 0, std), new Shape(shape));
    }

    /**
     * {@code n} normal values: Box-Muller from the seeded generator, so the same seed gives the same model
     * everywhere.
     */
    static float[] gaussian(SplittableRandom rnd, int n, double mean, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            double u1 = 1.0 - rnd.nextDouble();
            double u2 = rnd.nextDouble();
            v[i] = (float) (mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return v;
    }

    /**
     * Every tensor by HF name (the LM head only when untied; packed weights as plain copies), for saving; names as
     * {@link #expectedShapes}.
     */
    public Map<String, NDArray> named(boolean tied) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        out.put(EMBED, embed);
        for (int i = 0; i < layers.length; i++) {
            out.putAll(layers[i].named("model.", i));
        }
        out.put(NORM, finalNorm);
        if (!tied) {
            out.put(LM_HEAD, PackedLinear.dense(lmHead));
        }
        return out;
    }

    /** Writes {@code dir/model.safetensors} in the given dtype (F32, F16 or BF16). */
    public void save(Path dir, boolean tied, String dtype) throws IOException {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : named(tied).entrySet()) {
            t.put(e.getKey(), new Safetensors.Tensor(floats(e.getValue()), e.getValue().getShape().getShape()));
        }
        Safetensors.write(dir.resolve("model.safetensors"), t, dtype);
    }

    /** The values of {@code a} as float (converted from a half-precision type). */
    static float[] floats(NDArray a) {
        if (a.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32) {
            return a.toFloatArray();
        }
        try (NDArray f = a.toType(ai.djl.ndarray.types.DataType.FLOAT32, true)) {
            return f.toFloatArray();
        }
    }

    /** One safetensors file or a sharded set, looked up by tensor name. */
    static final class TensorSource implements AutoCloseable {
        private final Path describe;
        private final Map<String, Safetensors.Reader> byName = new HashMap<>();
        private final List<Safetensors.Reader> readers = new ArrayList<>();

        private TensorSource(Path describe) {
            this.describe = describe;
        }

        static TensorSource open(Path dir) {
            Path single = dir.resolve("model.safetensors");
            Path index = dir.resolve("model.safetensors.index.json");
            if (Files.exists(single)) {
                TensorSource s = new TensorSource(single);
                s.add(Safetensors.open(single));
                return s;
            }
            if (!Files.exists(index)) {
                throw new ModelLoadException(single, "missing file (a model folder needs model.safetensors or"
                        + " model.safetensors.index.json)");
            }
            TensorSource s = new TensorSource(index);
            try {
                JsonObject map = JsonParser.parseString(Files.readString(index)).getAsJsonObject()
                        .getAsJsonObject("weight_map");
                if (map == null) {
                    throw new ModelLoadException(index, "no weight_map object");
                }
                Map<String, Safetensors.Reader> shards = new HashMap<>();
                for (Map.Entry<String, JsonElement> e : map.entrySet()) {
                    String shard = e.getValue().getAsString();
                    Safetensors.Reader r = shards.get(shard);
                    if (r == null) {
                        r = Safetensors.open(dir.resolve(shard));
                        shards.put(shard, r);
                        s.readers.add(r);
                    }
                    if (!r.tensors().containsKey(e.getKey())) {
                        throw new ModelLoadException(r.file(), "tensor " + e.getKey() + " listed in " + index
                                .getFileName() + " is not in this shard");
                    }
                    s.byName.put(e.getKey(), r);
                }
            } catch (IOException | RuntimeException e) {
                s.close();
                if (e instanceof ModelLoadException m) {
                    throw m;
                }
                throw new ModelLoadException(index, "cannot read shard index: " + e.getMessage(), e);
            }
            return s;
        }

        private void add(Safetensors.Reader r) {
            readers.add(r);
            r.tensors().keySet().forEach(n -> byName.put(n, r));
        }

        /**
         * Checks, before anything is read, that every tensor of {@code expected} is present with its shape, and that
         * every tensor present is expected or {@code harmless}; the error names the tensors and what
         * {@code accountant} (the config) expects. Unused tensors would mean a config that describes less than the
         * file holds (e.g. 4 layers of an 8-layer checkpoint: half the model silently dropped).
         */
        void checkNames(Map<String, long[]> expected, java.util.function.Predicate<String> harmless,
                String accountant) {
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                if (!byName.containsKey(e.getKey())) {
                    throw new ModelLoadException(describe, "tensor " + e.getKey() + " not found (" + accountant
                            + " needs it)");
                }
                shapeOf(e.getKey(), e.getValue());
            }
            List<String> unused = byName.keySet().stream().filter(n -> !expected.containsKey(n) && !harmless.test(n))
                    .sorted().toList();
            if (!unused.isEmpty()) {
                Path where = unused.stream().map(n -> byName.get(n).file()).distinct().count() == 1
                        ? byName.get(unused.get(0)).file() : describe;
                throw new ModelLoadException(where, unused.size() + " tensor" + (unused.size() == 1 ? "" : "s")
                        + " not used by " + accountant + ": " + String.join(", ", unused.subList(0,
                        Math.min(unused.size(), 8))) + (unused.size() > 8 ? ", ..." : ""));
            }
        }

        /** The header entry of {@code name}, checked to have the {@code expected} shape. */
        private Safetensors.TensorInfo shapeOf(String name, long[] expected) {
            Safetensors.Reader r = byName.get(name);
            if (r == null) {
                throw new ModelLoadException(describe, "tensor " + name + " not found");
            }
            Safetensors.TensorInfo info = r.tensors().get(name);
            if (!Arrays.equals(info.shape(), expected)) {
                throw new ModelLoadException(r.file(), "tensor " + name + " has shape " + info.shapeString()
                        + " but config.json implies " + Arrays.toString(expected));
            }
            return info;
        }

        /** Tensor {@code name}, checked to have the {@code expected} shape, in {@code type} on {@code m}'s device. */
        NDArray load(NDManager m, String name, DataType type, long... expected) {
            shapeOf(name, expected);
            return byName.get(name).toNDArray(m, name, type);
        }

        @Override
        public void close() {
            readers.forEach(Safetensors.Reader::close);
        }
    }
}
