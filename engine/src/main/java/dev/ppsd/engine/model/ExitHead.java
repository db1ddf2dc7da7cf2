package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.runtime.PackedLinear;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The early-exit drafter after layer E: maps the layer-E hidden state to next-token logits.
 * <ul>
 *   <li>{@code shared} (LayerSkip style): the model's final norm and LM head on {@code h_E}; no weights.</li>
 *   <li>{@code trained} (EESD / PPSD style): RMSNorm, one decoder layer with its own KV cache, RMSNorm,
 *       and the model's LM head; trained by self-distillation. Stored in the HF layout in {@code exit_head/}:
 *       {@code config.json} (the base config with one layer plus {@code exit_layer}) and
 *       {@code model.safetensors} ({@code model.exit_norm.weight}, {@code model.layers.0.*},
 *       {@code model.norm.weight}).</li>
 * </ul>
 */
public final class ExitHead {
    public static final String EXIT_NORM = "model.exit_norm.weight";

    private final int exitLayer;
    private final LlamaConfig config;
    private final NDArray exitNorm; // [D], null for shared
    private final LayerWeights layer; // null for shared
    private final NDArray norm; // [D]
    private final NDArray lmHead; // [V, D]

    private ExitHead(int exitLayer, LlamaConfig config, NDArray exitNorm, LayerWeights layer, NDArray norm,
            NDArray lmHead) {
        this.exitLayer = exitLayer;
        this.config = config;
        this.exitNorm = exitNorm;
        this.layer = layer;
        this.norm = norm;
        this.lmHead = lmHead;
    }

    public int exitLayer() {
        return exitLayer;
    }

    public boolean trained() {
        return layer != null;
    }

    /** "shared" or "trained". */
    public String kind() {
        return trained() ? "trained" : "shared";
    }

    /** The shared-LM-head drafter at {@code exitLayer} (no weights of its own). */
    public static ExitHead shared(LlamaModel model, int exitLayer) {
        checkExitLayer(model.config(), exitLayer);
        LlamaWeights w = model.weights();
        return new ExitHead(exitLayer, model.config(), null, null, w.finalNorm(), w.lmHead());
    }

    /** A new trained-kind head initialised from the base model's layer {@code exitLayer} and final norm. */
    public static ExitHead initTrained(LlamaModel model, int exitLayer, NDManager manager) {
        checkExitLayer(model.config(), exitLayer);
        LlamaWeights w = model.weights();
        // plain copies (of a packed layer too): the head's layer is trained
        LayerWeights copy = w.layer(exitLayer).map(a -> PackedLinear.plainCopy(a, manager));
        NDArray exitNorm = Bfloat16.toType(manager.ones(new Shape(model.config().hiddenSize())), model.dataType());
        NDArray norm = w.finalNorm().duplicate();
        norm.attach(manager);
        return new ExitHead(exitLayer, model.config(), exitNorm, copy, norm, w.lmHead());
    }

    /** Validates the exit layer against the model: 1 <= E < N. */
    public static void checkExitLayer(LlamaConfig c, int exitLayer) {
        if (exitLayer < 1 || exitLayer >= c.numHiddenLayers()) {
            throw new IllegalArgumentException("exit_layer must be in [1, " + c.numHiddenLayers() + ") but was "
                    + exitLayer);
        }
    }

    /** Refuses an explicit {@code exitLayer} (0: none given) other than {@code trained}, the head's in {@code dir}. */
    public static void checkTrainedFor(int exitLayer, Path dir, int trained) {
        if (exitLayer != 0 && exitLayer != trained) {
            throw new IllegalArgumentException("exit_layer " + exitLayer + " does not match the exit head in " + dir
                    + " (trained for layer " + trained + ")");
        }
    }

    /** The trainable tensors of a trained head by HF name (empty for shared). */
    public Map<String, NDArray> named() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        if (trained()) {
            out.put(EXIT_NORM, exitNorm);
            out.putAll(layer.named("model.", 0)); // the family's layer: its biases / q-k norms too
            out.put(LlamaWeights.NORM, norm);
        }
        return out;
    }

    /** A one-layer stack for the head's own decoder layer (its KV cache holds one layer). */
    public LayerStack stack(Rope rope) {
        if (!trained()) {
            throw new IllegalStateException("a shared exit head has no layer");
        }
        return new LayerStack(config, new LayerWeights[] {layer}, 0, rope.device(), rope);
    }

    /**
     * Draft logits from the layer-E hidden state {@code hE [B, T, D] -> [B, T, V]}. A trained head runs its
     * layer with {@code cache} (may be null for uncached training).
     */
    public NDArray logits(NDArray hE, AttentionBatch a, KvCache cache) {
        return project(advance(hE, a, cache));
    }

    /**
     * The head's state before its LM head: a trained head runs its layer over every position of {@code hE}
     * (so its cache stays complete even when no draft is wanted); a shared head has nothing to run.
     */
    public NDArray advance(NDArray hE, AttentionBatch a, KvCache cache) {
        if (!trained()) {
            return hE;
        }
        NDArray h = DecoderLayer.rmsNorm(hE, exitNorm, config.rmsNormEps());
        return DecoderLayer.forward(config, new LayerWeights[] {layer}, 0, 1, h, a, cache);
    }

    /** Draft logits from {@link #advance}'s state: final norm and LM head. */
    public NDArray project(NDArray h) {
        return DecoderLayer.lmHead(h, norm, lmHead, config.rmsNormEps());
    }

    /** This head with its arrays on {@code device} (itself when already there), copies owned by {@code owner}. */
    public ExitHead onDevice(ai.djl.Device device, NDManager owner) {
        if (lmHead.getDevice().equals(device)) {
            return this;
        }
        java.util.function.UnaryOperator<NDArray> copy = a -> Bfloat16.toDevice(a, device, owner);
        return new ExitHead(exitLayer, config, copy.apply(exitNorm), layer == null ? null : layer.copyTo(owner, device),
                copy.apply(norm), copy.apply(lmHead));
    }

    /** Writes a trained head to {@code dir} (config.json + model.safetensors). */
    public void save(Path dir) throws IOException {
        if (!trained()) {
            throw new IllegalStateException("a shared exit head has nothing to save");
        }
        JsonObject cfg = config.withLayers(1).toJson();
        cfg.addProperty("exit_layer", exitLayer);
        cfg.addProperty("base_num_hidden_layers", config.numHiddenLayers());
        cfg.addProperty("shared_lm_head", true);
        DrafterFiles.write(dir, cfg, named());
    }

    /**
     * The exit layer a trained head folder declares ({@code exit_layer} in its config.json), read without
     * loading its weights; -1 when the folder has no readable head config ({@link #load} then gives the error).
     */
    public static int exitLayerOf(Path dir) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject()
                    .get("exit_layer");
            return e == null ? -1 : e.getAsInt();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Loads a trained head from {@code dir} in the model's type, checking it was built for {@code model}. */
    public static ExitHead load(Path dir, LlamaModel model, NDManager manager) {
        LlamaConfig base = model.config();
        int e = check(dir, base);
        long d = base.hiddenSize();
        try (LlamaWeights.TensorSource src = LlamaWeights.TensorSource.open(dir)) {
            Map<String, long[]> shapes = expectedShapes(base);
            java.util.List<NDArray> t = new java.util.ArrayList<>();
            for (String n : LayerWeights.names(base)) {
                String name = LlamaWeights.layerName("model.", 0, n);
                t.add(src.load(manager, name, model.dataType(), shapes.get(name)));
            }
            return new ExitHead(e, base, src.load(manager, EXIT_NORM, model.dataType(), d), LayerWeights.of(base, t),
                    src.load(manager, LlamaWeights.NORM, model.dataType(), d), model.weights().lmHead());
        }
    }

    /**
     * Checks, without reading any weight, that {@code dir} holds a trained head built for a model of config
     * {@code base} (its config, exit layer and every tensor header); returns its exit layer. Throws
     * {@link ModelLoadException} naming the file.
     */
    public static int check(Path dir, LlamaConfig base) {
        Path cfgFile = dir.resolve("config.json");
        JsonObject o = DrafterFiles.readConfig(dir, "an exit head folder needs config.json");
        if (!o.has("exit_layer")) {
            throw new ModelLoadException(cfgFile, "missing field exit_layer (not an exit head)");
        }
        int e = o.get("exit_layer").getAsInt();
        LlamaConfig head;
        try {
            head = LlamaConfig.fromJson(o);
        } catch (IllegalArgumentException ex) {
            throw new ModelLoadException(cfgFile, ex.getMessage(), ex);
        }
        int baseLayers = o.has("base_num_hidden_layers") ? o.get("base_num_hidden_layers").getAsInt()
                : base.numHiddenLayers();
        boolean sameLayer = head.withLayers(base.numHiddenLayers()).sameLayerAs(base);
        if (!sameLayer || baseLayers != base.numHiddenLayers()) {
            boolean sizes = head.hiddenSize() == base.hiddenSize() && head.vocabSize() == base.vocabSize();
            throw new ModelLoadException(cfgFile, DrafterFiles.builtForAnother("exit head", head, baseLayers, base)
                    + (sizes && !sameLayer ? "; its layer is " + describe(head) + " but the"
                            + " model's is " + describe(base) : ""));
        }
        try {
            checkExitLayer(base, e);
        } catch (IllegalArgumentException ex) {
            throw new ModelLoadException(cfgFile, ex.getMessage());
        }
        try (LlamaWeights.TensorSource src = LlamaWeights.TensorSource.open(dir)) {
            src.checkNames(expectedShapes(base), n -> LlamaWeights.harmless(n, false), "an exit head of "
                    + base.family().architecture() + " (exit_norm, one layer, norm)");
        }
        return e;
    }

    /** The tensors of a trained head for a model of config {@code base}, with their shapes. */
    private static Map<String, long[]> expectedShapes(LlamaConfig base) {
        long d = base.hiddenSize();
        Map<String, long[]> expected = new LinkedHashMap<>();
        expected.put(EXIT_NORM, new long[] {d});
        java.util.List<String> names = LayerWeights.names(base);
        long[][] shapes = LayerWeights.shapes(base);
        for (int j = 0; j < names.size(); j++) {
            expected.put(LlamaWeights.layerName("model.", 0, names.get(j)), shapes[j]);
        }
        expected.put(LlamaWeights.NORM, new long[] {d});
        return expected;
    }

    /** What a layer must share with the model's beyond its sizes, for the error message. */
    private static String describe(LlamaConfig c) {
        return c.family().architecture() + " (intermediate_size " + c.intermediateSize() + ", heads "
                + c.numAttentionHeads() + "/" + c.numKeyValueHeads() + ", head_dim " + c.headDim()
                + ", attention_bias " + c.attentionBias() + ", rope_theta " + c.ropeTheta() + ", rope_scaling "
                + c.ropeScaling().type() + ", sliding_window " + c.slidingWindow() + ")";
    }
}
