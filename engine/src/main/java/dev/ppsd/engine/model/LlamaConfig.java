package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.ModelLoadException;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The fields of a Hugging Face {@code config.json} for {@code LlamaForCausalLM} (and configs that only add
 * fields, such as Qwen2 / Mistral) that the engine uses. Derived values ({@link #headDim()},
 * {@link #kvGroups()}) are computed once here.
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
        List<Integer> eosTokenIds) {

    /** Architectures whose checkpoints use exactly the Llama tensor layout. */
    private static final Set<String> ARCHITECTURES =
            Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "LayerSkipLlamaForCausalLM");

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
    }

    /** Number of query heads that share one key/value head (grouped-query attention). */
    public int kvGroups() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /** Reads {@code dir/config.json}; errors name the file and the offending field. */
    public static LlamaConfig load(Path dir) {
        Path file = dir.resolve("config.json");
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(file, "missing file (a model folder needs config.json)");
        } catch (IOException e) {
            throw new ModelLoadException(file, "cannot read: " + e.getMessage(), e);
        }
        JsonObject o;
        try {
            o = JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new ModelLoadException(file, "not a JSON object: " + e.getMessage(), e);
        }
        try {
            return fromJson(o);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file, e.getMessage(), e);
        }
    }

    /** Parses a config JSON object; throws IllegalArgumentException naming the field on a problem. */
    public static LlamaConfig fromJson(JsonObject o) {
        if (o.has("architectures")) {
            for (JsonElement a : o.getAsJsonArray("architectures")) {
                require(ARCHITECTURES.contains(a.getAsString()),
                        "architectures: unsupported architecture " + a.getAsString() + " (supported: "
                                + ARCHITECTURES + ")");
            }
        }
        String act = optString(o, "hidden_act", "silu");
        require(act.equals("silu") || act.equals("swish"), "hidden_act: unsupported activation '" + act
                + "' (only silu is supported)");
        if (o.has("rope_scaling") && !o.get("rope_scaling").isJsonNull()) {
            throw new IllegalArgumentException("rope_scaling: unsupported field (only plain RoPE is supported)");
        }
        if (o.has("sliding_window") && !o.get("sliding_window").isJsonNull()
                && optBool(o, "use_sliding_window", true)) {
            throw new IllegalArgumentException("sliding_window: unsupported field (set use_sliding_window=false"
                    + " or remove it; only full attention is supported)");
        }
        if (optBool(o, "attention_bias", false) || optBool(o, "mlp_bias", false)) {
            throw new IllegalArgumentException("attention_bias/mlp_bias: biases are not supported");
        }
        int hidden = reqInt(o, "hidden_size");
        int heads = reqInt(o, "num_attention_heads");
        int kvHeads = o.has("num_key_value_heads") && !o.get("num_key_value_heads").isJsonNull()
                ? reqInt(o, "num_key_value_heads") : heads;
        require(hidden % heads == 0 || o.has("head_dim"),
                "hidden_size (" + hidden + ") must be divisible by num_attention_heads (" + heads + ")");
        int headDim = o.has("head_dim") && !o.get("head_dim").isJsonNull() ? reqInt(o, "head_dim") : hidden / heads;
        List<Integer> eos = new ArrayList<>();
        if (o.has("eos_token_id") && !o.get("eos_token_id").isJsonNull()) {
            JsonElement e = o.get("eos_token_id");
            if (e.isJsonArray()) {
                for (JsonElement x : e.getAsJsonArray()) {
                    eos.add(x.getAsInt());
                }
            } else {
                eos.add(e.getAsInt());
            }
        }
        int bos = o.has("bos_token_id") && !o.get("bos_token_id").isJsonNull() ? reqInt(o, "bos_token_id") : -1;
        return new LlamaConfig(
                hidden,
                reqInt(o, "intermediate_size"),
                reqInt(o, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                (float) optDouble(o, "rms_norm_eps", 1e-6),
                (float) optDouble(o, "rope_theta", 10000.0),
                reqInt(o, "vocab_size"),
                o.has("max_position_embeddings") ? reqInt(o, "max_position_embeddings") : 2048,
                optBool(o, "tie_word_embeddings", false),
                bos,
                eos);
    }

    /** The config as a Hugging Face {@code config.json} object (LlamaForCausalLM). */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        JsonArray arch = new JsonArray();
        arch.add("LlamaForCausalLM");
        o.add("architectures", arch);
        o.addProperty("model_type", "llama");
        o.addProperty("hidden_act", "silu");
        o.addProperty("hidden_size", hiddenSize);
        o.addProperty("intermediate_size", intermediateSize);
        o.addProperty("num_hidden_layers", numHiddenLayers);
        o.addProperty("num_attention_heads", numAttentionHeads);
        o.addProperty("num_key_value_heads", numKeyValueHeads);
        o.addProperty("head_dim", headDim);
        o.addProperty("rms_norm_eps", rmsNormEps);
        o.addProperty("rope_theta", ropeTheta);
        o.addProperty("vocab_size", vocabSize);
        o.addProperty("max_position_embeddings", maxPositionEmbeddings);
        o.addProperty("tie_word_embeddings", tieWordEmbeddings);
        o.addProperty("attention_bias", false);
        o.addProperty("torch_dtype", "float32");
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
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), gson.toJson(toJson()) + "\n", StandardCharsets.UTF_8);
    }

    /** A copy with a different number of layers (used for exit heads: one decoder layer). */
    public LlamaConfig withLayers(int layers) {
        return new LlamaConfig(hiddenSize, intermediateSize, layers, numAttentionHeads, numKeyValueHeads, headDim,
                rmsNormEps, ropeTheta, vocabSize, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds);
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
