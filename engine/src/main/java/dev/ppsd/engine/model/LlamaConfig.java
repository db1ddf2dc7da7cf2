package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.ModelLoadException;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonNull;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The fields of a Hugging Face {@code config.json} that the engine uses, for every {@link Family} (Llama 3.x,
 * Mistral, Qwen2/2.5, Qwen3): one record, the family's features switched by it. Derived values ({@link #headDim()},
 * {@link #kvGroups()}, which projections have biases) are computed once here. Keys the engine does not implement
 * are refused by {@link #fromJson} with one line naming the key and its value, before any weight is read.
 *
 * <p>{@code slidingWindow} is 0 when every position attends to the whole prefix (no window, or a window at least
 * as long as the context); {@code attentionBias} is {@code attention_bias} of the families that read it (Llama,
 * Qwen3: biases on q, k, v and o) and false otherwise (Qwen2's q/k/v biases are implied by its architecture).
 */
public record LlamaConfig(
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        float rmsNormEps,
        float ropeTheta,
        int vocabSize,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        int bosTokenId,
        List<Integer> eosTokenIds,
        Family family,
        boolean attentionBias,
        RopeScaling ropeScaling,
        int slidingWindow,
        String torchDtype) {

    /** Keys of mixture-of-experts configs (a dense decoder cannot run them). */
    private static final List<String> MOE_KEYS = List.of("num_experts", "num_local_experts", "n_routed_experts",
            "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts");

    public LlamaConfig {
        require(hiddenSize > 0, "hidden_size must be > 0 but was " + hiddenSize);
        require(intermediateSize > 0, "intermediate_size must be > 0 but was " + intermediateSize);
        require(numHiddenLayers > 0, "num_hidden_layers must be > 0 but was " + numHiddenLayers);
        require(numAttentionHeads > 0, "num_attention_heads must be > 0 but was " + numAttentionHeads);
        require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0,
                "num_key_value_heads must divide num_attention_heads (" + numAttentionHeads + ") but was "
                        + numKeyValueHeads);
        require(headDim > 0 && headDim % 2 == 0, "head_dim must be a positive even number but was " + headDim);
        require(vocabSize > 0, "vocab_size must be > 0 but was " + vocabSize);
        require(maxPositionEmbeddings > 0, "max_position_embeddings must be > 0 but was " + maxPositionEmbeddings);
        eosTokenIds = List.copyOf(eosTokenIds);
        require(family != null, "family must be given");
        require(!attentionBias || family.readsAttentionBias(), "attention_bias: " + family.architecture()
                + " has no attention_bias");
        require(ropeScaling != null, "rope_scaling must be given (RopeScaling.NONE for plain RoPE)");
        require(slidingWindow >= 0, "sliding_window must be >= 0 but was " + slidingWindow);
        require(slidingWindow == 0 || family.readsSlidingWindow(), "sliding_window: " + family.architecture()
                + " has no sliding window");
        require(torchDtype != null, "torch_dtype must be given");
    }

    /** A plain Llama config (no biases, plain RoPE, full attention, float32 checkpoint). */
    public LlamaConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
            int numKeyValueHeads, int headDim, float rmsNormEps, float ropeTheta, int vocabSize,
            int maxPositionEmbeddings, boolean tieWordEmbeddings, int bosTokenId, List<Integer> eosTokenIds) {
        this(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim, rmsNormEps,
                ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds, Family.LLAMA,
                false, RopeScaling.NONE, 0, "float32");
    }

    /** Number of query heads that share one key/value head (grouped-query attention). */
    public int kvGroups() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /** Whether q, k and v projections have biases ({@code attention_bias}, or implied by Qwen2). */
    public boolean qkvBias() {
        return attentionBias || family.impliesQkvBias();
    }

    /** Whether the output projection has a bias ({@code attention_bias} of Llama / Qwen3). */
    public boolean oBias() {
        return attentionBias;
    }

    /** Whether each query and key head is RMS-normalised before RoPE (Qwen3's {@code q_norm}, {@code k_norm}). */
    public boolean qkNorm() {
        return family.hasQkNorm();
    }

    /**
     * Reads {@code dir/config.json} and, when present, {@code dir/generation_config.json}, whose
     * {@code eos_token_id}s are added to the config's (any of them ends a sequence); errors name the file and the
     * offending key.
     */
    public static LlamaConfig load(Path dir) {
        Path file = dir.resolve("config.json");
        LlamaConfig c;
        try {
            c = fromJson(readObject(file, "a model folder needs config.json"));
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file, e.getMessage(), e);
        }
        Path gen = dir.resolve("generation_config.json");
        if (!Files.exists(gen)) {
            return c;
        }
        List<Integer> eos = new ArrayList<>(c.eosTokenIds());
        try {
            for (int id : ids(readObject(gen, ""), "eos_token_id")) {
                if (!eos.contains(id)) {
                    eos.add(id);
                }
            }
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(gen, e.getMessage(), e);
        }
        return c.withEos(eos);
    }

    private static JsonObject readObject(Path file, String whyNeeded) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(file, "missing file (" + whyNeeded + ")");
        } catch (IOException e) {
            throw new ModelLoadException(file, "cannot read: " + e.getMessage(), e);
        }
        try {
            return JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new ModelLoadException(file, "not a JSON object: " + e.getMessage(), e);
        }
    }

    /**
     * Parses a config JSON object; throws IllegalArgumentException with one line naming the key and value of the
     * first thing the engine does not implement (checked before any number is read).
     */
    public static LlamaConfig fromJson(JsonObject o) {
        Family family = family(o);
        refuseUnsupported(o);
        int layers = reqInt(o, "num_hidden_layers");
        int hidden = reqInt(o, "hidden_size");
        int heads = reqInt(o, "num_attention_heads");
        int kvHeads = has(o, "num_key_value_heads") ? reqInt(o, "num_key_value_heads") : heads;
        require(hidden % heads == 0 || has(o, "head_dim"),
                "hidden_size (" + hidden + ") must be divisible by num_attention_heads (" + heads + ")");
        int headDim = has(o, "head_dim") ? reqInt(o, "head_dim") : hidden / heads;
        int maxPos = has(o, "max_position_embeddings") ? reqInt(o, "max_position_embeddings") : 2048;
        // transformers 5 writes rope_theta and the scaling into one rope_parameters object
        JsonObject ropeParams = has(o, "rope_parameters") && o.get("rope_parameters").isJsonObject()
                ? o.getAsJsonObject("rope_parameters") : null;
        double theta = ropeParams != null && has(ropeParams, "rope_theta") ? ropeParams.get("rope_theta").getAsDouble()
                : optDouble(o, "rope_theta", 10000.0);
        RopeScaling scaling = ropeParams != null
                ? RopeScaling.fromJson(ropeParams, "rope_parameters", maxPos)
                : RopeScaling.fromJson(o.get("rope_scaling"), "rope_scaling", maxPos);
        int window = family.readsSlidingWindow() ? slidingWindow(o, family, layers, maxPos) : 0;
        return new LlamaConfig(
                hidden,
                reqInt(o, "intermediate_size"),
                layers,
                heads,
                kvHeads,
                headDim,
                (float) optDouble(o, "rms_norm_eps", 1e-6),
                (float) theta,
                reqInt(o, "vocab_size"),
                maxPos,
                optBool(o, "tie_word_embeddings", false),
                has(o, "bos_token_id") ? reqInt(o, "bos_token_id") : -1,
                ids(o, "eos_token_id"),
                family,
                family.readsAttentionBias() && optBool(o, "attention_bias", false),
                scaling,
                window >= maxPos ? 0 : window, // a window as long as the context never masks anything
                has(o, "torch_dtype") ? o.get("torch_dtype").getAsString() : optString(o, "dtype", "float32"));
    }

    /** The family of {@code architectures} (or of {@code model_type} when there is none; Llama when neither). */
    private static Family family(JsonObject o) {
        if (has(o, "architectures")) {
            JsonElement a = o.get("architectures");
            require(a.isJsonArray() && a.getAsJsonArray().size() == 1 && a.getAsJsonArray().get(0).isJsonPrimitive(),
                    "architectures: must name one architecture but was " + a);
            return Family.of(a.getAsJsonArray().get(0).getAsString());
        }
        String type = optString(o, "model_type", "llama");
        for (Family f : Family.values()) {
            if (f.modelType().equals(type)) {
                return f;
            }
        }
        throw new IllegalArgumentException("model_type: '" + type + "' is not supported (and no architectures)");
    }

    /** Keys whose presence (with a value that matters) means a model this decoder cannot run. */
    private static void refuseUnsupported(JsonObject o) {
        if (has(o, "quantization_config")) {
            JsonElement q = o.get("quantization_config");
            String method = q.isJsonObject() && has(q.getAsJsonObject(), "quant_method")
                    ? q.getAsJsonObject().get("quant_method").getAsString() : q.toString();
            throw new IllegalArgumentException("quantization_config: quant_method '" + method
                    + "' is not supported (quantized checkpoints are not supported)");
        }
        for (String k : MOE_KEYS) {
            if (has(o, k) && !(o.get(k).isJsonPrimitive() && o.get(k).getAsDouble() == 0)) {
                throw new IllegalArgumentException(k + ": " + o.get(k)
                        + " is not supported (mixture-of-experts models are not supported)");
            }
        }
        String act = optString(o, "hidden_act", "silu");
        require(act.equals("silu") || act.equals("swish"), "hidden_act: '" + act
                + "' is not supported (only silu is supported)");
        require(!has(o, "partial_rotary_factor") || o.get("partial_rotary_factor").getAsDouble() == 1.0,
                "partial_rotary_factor: " + o.get("partial_rotary_factor") + " is not supported (only 1.0)");
        require(!optBool(o, "mlp_bias", false), "mlp_bias: true is not supported (MLP projections without biases"
                + " only)");
    }

    /**
     * The window every layer uses (0: none). Mistral reads {@code sliding_window}; Qwen2/3 only with
     * {@code use_sliding_window} on layers {@code >= max_window_layers} (or as {@code layer_types} says): a window
     * on some layers but not others is refused unless it is at least the context (then it masks nothing).
     */
    private static int slidingWindow(JsonObject o, Family family, int layers, int maxPos) {
        int window = has(o, "sliding_window") ? reqInt(o, "sliding_window") : 0;
        require(window >= 0, "sliding_window: must be >= 0 but was " + window);
        if (family == Family.MISTRAL || window == 0) {
            return window;
        }
        int sliding; // layers that use the window
        String why;
        if (has(o, "layer_types")) {
            sliding = 0;
            for (JsonElement t : o.getAsJsonArray("layer_types")) {
                sliding += t.getAsString().equals("sliding_attention") ? 1 : 0;
            }
            why = "layer_types: " + sliding + " of " + layers + " layers use sliding_attention";
        } else if (optBool(o, "use_sliding_window", false)) {
            int from = has(o, "max_window_layers") ? reqInt(o, "max_window_layers") : 28;
            sliding = Math.max(0, layers - from);
            why = "use_sliding_window: true with max_window_layers " + from + " slides " + sliding + " of " + layers
                    + " layers";
        } else {
            return 0;
        }
        if (sliding == 0) {
            return 0;
        }
        require(sliding == layers || window >= maxPos, why + " (a sliding window of " + window
                + " on some layers only is not supported)");
        return window;
    }

    /** The config as a Hugging Face {@code config.json} object, with the keys transformers writes for its family. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        JsonArray arch = new JsonArray();
        arch.add(family.architecture());
        o.add("architectures", arch);
        o.addProperty("model_type", family.modelType());
        o.addProperty("hidden_act", "silu");
        o.addProperty("hidden_size", hiddenSize);
        o.addProperty("intermediate_size", intermediateSize);
        o.addProperty("num_hidden_layers", numHiddenLayers);
        o.addProperty("num_attention_heads", numAttentionHeads);
        o.addProperty("num_key_value_heads", numKeyValueHeads);
        o.addProperty("head_dim", headDim);
        o.addProperty("rms_norm_eps", rmsNormEps);
        o.addProperty("rope_theta", ropeTheta);
        o.add("rope_scaling", ropeScaling.toJson() == null ? JsonNull.INSTANCE : ropeScaling.toJson());
        o.addProperty("vocab_size", vocabSize);
        o.addProperty("max_position_embeddings", maxPositionEmbeddings);
        o.addProperty("tie_word_embeddings", tieWordEmbeddings);
        if (family.readsAttentionBias()) {
            o.addProperty("attention_bias", attentionBias);
        }
        if (family == Family.LLAMA || family == Family.LAYERSKIP_LLAMA) {
            o.addProperty("mlp_bias", false);
        }
        if (family == Family.MISTRAL) {
            o.add("sliding_window", slidingWindow == 0 ? JsonNull.INSTANCE : new JsonPrimitive(slidingWindow));
        } else if (family.readsSlidingWindow()) {
            o.addProperty("use_sliding_window", slidingWindow > 0);
            o.add("sliding_window", slidingWindow == 0 ? JsonNull.INSTANCE : new JsonPrimitive(slidingWindow));
            o.addProperty("max_window_layers", slidingWindow > 0 ? 0 : numHiddenLayers);
        }
        o.addProperty("torch_dtype", torchDtype);
        if (bosTokenId >= 0) {
            o.addProperty("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.size() == 1) {
            o.addProperty("eos_token_id", eosTokenIds.get(0));
        } else if (!eosTokenIds.isEmpty()) {
            JsonArray e = new JsonArray();
            eosTokenIds.forEach(e::add);
            o.add("eos_token_id", e);
        }
        return o;
    }

    /** Writes {@code dir/config.json}. */
    public void save(Path dir) throws IOException {
        Gson gson = new GsonBuilder().setPrettyPrinting().serializeNulls().create();
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), gson.toJson(toJson()) + "\n", StandardCharsets.UTF_8);
    }

    /** A copy with a different number of layers (used for exit heads: one decoder layer). */
    public LlamaConfig withLayers(int layers) {
        return new LlamaConfig(hiddenSize, intermediateSize, layers, numAttentionHeads, numKeyValueHeads, headDim,
                rmsNormEps, ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds,
                family, attentionBias, ropeScaling, slidingWindow, torchDtype);
    }

    /** A copy with another MLP width (used for SPD heads: a narrower layer). */
    public LlamaConfig withIntermediateSize(int intermediate) {
        return new LlamaConfig(hiddenSize, intermediate, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim,
                rmsNormEps, ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds,
                family, attentionBias, ropeScaling, slidingWindow, torchDtype);
    }

    /** What decides a checkpoint's tensors, for messages: architecture, layers, biases, tied embeddings. */
    public String layout() {
        return family.architecture() + ", " + numHiddenLayers + " layers" + (qkvBias() ? ", q/k/v biases" : "")
                + (oBias() ? ", o bias" : "") + (qkNorm() ? ", q/k norms" : "") + ", tie_word_embeddings "
                + tieWordEmbeddings;
    }

    /**
     * Whether a layer of this config has the same tensors and computes the same way as one of {@code o} (an exit
     * head's config against its model's): family, sizes, biases, RoPE and window.
     */
    public boolean sameLayerAs(LlamaConfig o) {
        return family == o.family && hiddenSize == o.hiddenSize && intermediateSize == o.intermediateSize
                && numAttentionHeads == o.numAttentionHeads && numKeyValueHeads == o.numKeyValueHeads
                && headDim == o.headDim && vocabSize == o.vocabSize && attentionBias == o.attentionBias
                && ropeScaling.equals(o.ropeScaling) && ropeTheta == o.ropeTheta && slidingWindow == o.slidingWindow;
    }

    /** A copy with other EOS ids. */
    public LlamaConfig withEos(List<Integer> eos) {
        return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                headDim, rmsNormEps, ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eos,
                family, attentionBias, ropeScaling, slidingWindow, torchDtype);
    }

    /**
     * A copy of this config's numbers in another family's layout, with {@code attention_bias}, the RoPE scaling,
     * the sliding window and the checkpoint dtype given (tests and benchmarks write each family with it).
     */
    public LlamaConfig asFamily(Family f, boolean bias, RopeScaling scaling, int window, String dtype) {
        return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                headDim, rmsNormEps, ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId,
                eosTokenIds, f, bias, scaling, window, dtype);
    }

    /** A copy with another RoPE base. */
    public LlamaConfig withRopeTheta(float theta) {
        return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                headDim, rmsNormEps, theta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId,
                eosTokenIds, family, attentionBias, ropeScaling, slidingWindow, torchDtype);
    }

    /** {@code field} as a list of ids (an int or an array of ints); empty when absent. */
    private static List<Integer> ids(JsonObject o, String field) {
        List<Integer> out = new ArrayList<>();
        if (!has(o, field)) {
            return out;
        }
        JsonElement e = o.get(field);
        try {
            if (e.isJsonArray()) {
                for (JsonElement x : e.getAsJsonArray()) {
                    out.add(x.getAsInt());
                }
            } else {
                out.add(e.getAsInt());
            }
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException(field + ": must be an id or a list of ids but was " + e);
        }
        return out;
    }

    private static boolean has(JsonObject o, String field) {
        return o.has(field) && !o.get(field).isJsonNull();
    }

    private static int reqInt(JsonObject o, String field) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            throw new IllegalArgumentException("missing required field " + field);
        }
        try {
            return e.getAsInt();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException(field + " must be an integer but was " + e);
        }
    }

    private static double optDouble(JsonObject o, String field, double dflt) {
        JsonElement e = o.get(field);
        return e == null || e.isJsonNull() ? dflt : e.getAsDouble();
    }

    private static boolean optBool(JsonObject o, String field, boolean dflt) {
        JsonElement e = o.get(field);
        return e == null || e.isJsonNull() ? dflt : e.getAsBoolean();
    }

    private static String optString(JsonObject o, String field, String dflt) {
        JsonElement e = o.get(field);
        return e == null || e.isJsonNull() ? dflt : e.getAsString();
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
