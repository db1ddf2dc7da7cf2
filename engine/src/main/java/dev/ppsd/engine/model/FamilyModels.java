package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.Safetensors;
import dev.ppsd.engine.runtime.DjlRuntime;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes random-weight models of each {@link Family} in its exact Hugging Face layout: {@code config.json} with the
 * keys transformers writes for it (Llama 3.2's {@code rope_scaling} of type llama3 and EOS list, Qwen2.5's
 * {@code use_sliding_window}/{@code max_window_layers}, Qwen3's {@code head_dim}, Mistral's {@code sliding_window}),
 * Llama 3's {@code generation_config.json}, the family's tensors ({@code model.safetensors}, written one tensor at a
 * time, so a large model never sits on the heap) and {@link TinyModels}' byte-level tokenizer (real tokenizer files
 * are not shipped). Dimensions are tiny; the vocabulary may be the family's real one.
 *
 * <p>Weights are scaled so that logits are well separated (as {@code ControlledAcceptanceModel} in the tests):
 * embeddings std 0.5, q/k giving attention scores of order 1, other projections unit-variance, biases std 0.5,
 * norm weights (also Qwen3's q/k norms) 1 + N(0, 0.3^2), LM head std 3/sqrt(D). The residual projections
 * ({@code o_proj}, {@code down_proj} and their biases) of layers {@code >= exitLayer} are multiplied by
 * {@code lateScale}, which sets how often the early-exit draft at that layer agrees with the model. Each tensor has
 * its own seeded stream (seed and name), so the same call writes the same file.
 */
public final class FamilyModels {
    /** Llama 3's vocabulary size. */
    public static final int LLAMA3_VOCAB = 128256;
    /** Qwen2 / Qwen2.5 / Qwen3's vocabulary size. */
    public static final int QWEN_VOCAB = 151936;
    /** Mistral 7B v0.1's vocabulary size. */
    public static final int MISTRAL_VOCAB = 32000;

    private FamilyModels() {
    }

    /**
     * Llama 3.2 1B-style: tied embeddings, rope_theta 500000, llama3 scaling (factor 32, low 1, high 4, original
     * 8192), bos 128000, EOS 128001 / 128008 / 128009; GQA 4 / 2 heads of 16.
     */
    public static LlamaConfig llama3(int layers, int vocab) {
        return base(layers, vocab, 16, 500000f, true, 128000, List.of(128001, 128008, 128009))
                .asFamily(Family.LLAMA, false, RopeScaling.llama3(32, 1, 4, 8192), 0, "bfloat16");
    }

    /** Qwen2.5 0.5B-style: q/k/v biases (implied), tied embeddings, rope_theta 1e6, bos / eos 151643. */
    public static LlamaConfig qwen2(int layers, int vocab) {
        return base(layers, vocab, 16, 1e6f, true, 151643, List.of(151643))
                .asFamily(Family.QWEN2, false, RopeScaling.NONE, 0, "bfloat16");
    }

    /**
     * Qwen3 0.6B-style: per-head q/k RMSNorm, explicit head_dim 32 (hidden 64 / 4 heads would be 16), tied
     * embeddings, rope_theta 1e6, eps 1e-6, bos 151643, eos 151645.
     */
    public static LlamaConfig qwen3(int layers, int vocab) {
        return new LlamaConfig(64, 128, layers, 4, 2, 32, 1e-6f, 1e6f, vocab, 512, true, 151643, List.of(151645),
                Family.QWEN3, false, RopeScaling.NONE, 0, "bfloat16");
    }

    /** Mistral 7B v0.1-style: untied, rope_theta 10000, {@code sliding_window} {@code window} (0: none), bos 1, eos 2. */
    public static LlamaConfig mistral(int layers, int vocab, int window) {
        return base(layers, vocab, 16, 10000f, false, 1, List.of(2))
                .asFamily(Family.MISTRAL, false, RopeScaling.NONE, window, "bfloat16");
    }

    private static LlamaConfig base(int layers, int vocab, int headDim, float theta, boolean tied, int bos,
            List<Integer> eos) {
        return new LlamaConfig(64, 128, layers, 4, 2, headDim, 1e-5f, theta, vocab, 512, tied, bos, eos);
    }

    /** The family's config.json: {@link LlamaConfig#toJson} and the keys transformers adds that the engine ignores. */
    public static JsonObject hfConfig(LlamaConfig c) {
        JsonObject o = c.toJson();
        o.addProperty("attention_dropout", 0.0);
        o.addProperty("initializer_range", 0.02);
        if (c.family() == Family.LLAMA) {
            o.addProperty("pretraining_tp", 1);
        }
        o.addProperty("use_cache", true);
        o.addProperty("transformers_version", "4.51.0");
        return o;
    }

    /** Writes a model of {@code c} with all layers unscaled. */
    public static Path write(Path dir, LlamaConfig c, long seed) throws IOException {
        return write(dir, c, c.numHiddenLayers(), 1.0, seed);
    }

    /**
     * Writes config.json (and generation_config.json with the EOS ids for Llama), tokenizer.json and
     * model.safetensors (in {@code c.torchDtype()}'s file dtype: F32, BF16 or F16) into {@code dir}.
     */
    public static Path write(Path dir, LlamaConfig c, int exitLayer, double lateScale, long seed) throws IOException {
        DjlRuntime.init();
        Files.createDirectories(dir);
        TinyModels.writeTokenizer(dir, c);
        writeJson(dir.resolve("config.json"), hfConfig(c));
        if (c.family() == Family.LLAMA) {
            JsonObject g = new JsonObject();
            g.addProperty("bos_token_id", c.bosTokenId());
            JsonArray eos = new JsonArray();
            c.eosTokenIds().forEach(eos::add);
            g.add("eos_token_id", eos);
            g.addProperty("transformers_version", "4.51.0");
            writeJson(dir.resolve("generation_config.json"), g);
        }
        writeWeights(dir.resolve("model.safetensors"), c, exitLayer, lateScale, seed);
        return dir;
    }

    /** Writes the tensors of a model of {@code c} to {@code file}, one at a time. */
    public static void writeWeights(Path file, LlamaConfig c, int exitLayer, double lateScale, long seed)
            throws IOException {
        String dtype = switch (c.torchDtype()) {
            case "bfloat16" -> "BF16";
            case "float16" -> "F16";
            default -> "F32";
        };
        Map<String, long[]> shapes = LlamaWeights.expectedShapes(c);
        Safetensors.write(file, shapes, dtype, name -> values(c, name, shapes.get(name), exitLayer, lateScale, seed));
    }

    /** The values of tensor {@code name}. */
    static float[] values(LlamaConfig c, String name, long[] shape, int exitLayer, double lateScale, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        int n = (int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        if (name.endsWith("norm.weight")) {
            return LlamaWeights.gaussian(rnd, n, 1.0, 0.3);
        }
        double std;
        if (name.equals(LlamaWeights.EMBED) || name.endsWith(".bias")) {
            std = 0.5;
        } else if (name.equals(LlamaWeights.LM_HEAD)) {
            std = 3.0 / Math.sqrt(c.hiddenSize());
        } else if (name.contains("q_proj") || name.contains("k_proj")) {
            std = Math.sqrt(1.5 / shape[1]) * Math.pow((double) shape[1] / c.headDim(), 0.25);
        } else {
            std = 1.0 / Math.sqrt(shape[1]);
        }
        if ((name.contains("o_proj") || name.contains("down_proj")) && layerOf(name) >= exitLayer) {
            std *= lateScale;
        }
        return LlamaWeights.gaussian(rnd, n, 0.0, std);
    }

    /** The layer index of {@code model.layers.i.*}, or -1. */
    private static int layerOf(String name) {
        if (!name.startsWith("model.layers.")) {
            return -1;
        }
        String rest = name.substring("model.layers.".length());
        return Integer.parseInt(rest.substring(0, rest.indexOf('.')));
    }

    private static void writeJson(Path file, JsonObject o) throws IOException {
        Files.writeString(file, new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(o) + "\n",
                StandardCharsets.UTF_8);
    }
}
