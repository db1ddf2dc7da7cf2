package dev.ppsd.engine.schedule;

import dev.ppsd.engine.model.LayerWeights;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.checkpoint.Safetensors;
import dev.ppsd.engine.model.TinyModels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

/**
 * Test fixture: a random tiny model whose draft acceptance is set by one number. The layers after the exit
 * layer E have their residual output projections ({@code o_proj}, {@code down_proj}) scaled by
 * {@code lateScale = s}:
 * <ul>
 *   <li>{@code s = 0}: every layer from E on adds exactly zero to the residual stream, so {@code h_N == h_E}
 *       bit for bit and the shared-head draft at E is the target itself (acceptance 1);</li>
 *   <li>larger {@code s}: the late layers move the final hidden state further from {@code h_E}, so the
 *       shared-head draft agrees with the target less often.</li>
 * </ul>
 * Weights are larger than {@link LlamaWeights#random}'s std 0.02 (whose logits are nearly flat, so greedy
 * argmaxes would be near-ties): embeddings std 0.5, q/k giving attention scores of order 1, every other
 * projection unit-variance, LM head std 3/sqrt(D) (logit gaps of order 1), norm weights 1 + N(0, 0.3^2).
 * The folder also gets {@link TinyModels}' byte-level BPE tokenizer, so {@code GenerationEngine} can open it.
 * Reusable by benchmarks: {@link #write(Path, double, long)} gives the default shape below.
 */
public final class ControlledAcceptanceModel {
    /** Default shape: 4 layers, hidden 64, vocab 320 (the tokenizer needs 259+), exit layer 2. */
    public static final int LAYERS = 4;
    public static final int HIDDEN = 64;
    public static final int VOCAB = 320;
    public static final int EXIT_LAYER = 2;

    private ControlledAcceptanceModel() {
    }

    /** A GQA config (4 query heads, 2 KV heads) with context 256, bos 0 and the given EOS ids. */
    public static LlamaConfig config(int layers, int hidden, int vocab, List<Integer> eos) {
        int heads = 4;
        return new LlamaConfig(hidden, 2 * hidden, layers, heads, 2, hidden / heads, 1e-5f, 10000f, vocab, 256,
                false, 0, eos);
    }

    /** The default model ({@link #LAYERS} layers, exit layer {@link #EXIT_LAYER}) with tokenizer into {@code dir}. */
    public static Path write(Path dir, double lateScale, long seed) throws IOException {
        return write(dir, config(LAYERS, HIDDEN, VOCAB, List.of(1)), EXIT_LAYER, lateScale, seed);
    }

    /** A model of config {@code c} (with tokenizer) whose layers {@code >= exitLayer} are scaled by {@code lateScale}. */
    public static Path write(Path dir, LlamaConfig c, int exitLayer, double lateScale, long seed) throws IOException {
        Files.createDirectories(dir);
        TinyModels.write(dir, c, seed); // config.json + tokenizer.json (+ std-0.02 weights, replaced below)
        writeWeights(dir, c, exitLayer, lateScale, seed);
        return dir;
    }

    /** Only config.json and model.safetensors (no tokenizer): for tests that drive schedulers with token ids. */
    public static Path writeWithoutTokenizer(Path dir, LlamaConfig c, int exitLayer, double lateScale, long seed)
            throws IOException {
        Files.createDirectories(dir);
        c.save(dir);
        writeWeights(dir, c, exitLayer, lateScale, seed);
        return dir;
    }

    /** Writes {@code dir/model.safetensors} (F32). */
    public static void writeWeights(Path dir, LlamaConfig c, int exitLayer, double lateScale, long seed)
            throws IOException {
        Safetensors.write(dir.resolve("model.safetensors"), tensors(c, exitLayer, lateScale, seed), "F32");
    }

    /**
     * The model of the sampling tests (no tokenizer): 4 layers, hidden 32, a vocabulary of 8 tokens and no EOS, so
     * that the exact distribution of a few tokens can be enumerated; layers from 2 on scaled by 2.5 (drafts at layer
     * 2 are accepted sometimes and rejected sometimes) and the LM head by 0.33 (logit std ~1: the next token spreads
     * over most of the vocabulary).
     */
    public static Path writeSamplingModel(Path dir) throws IOException {
        LlamaConfig c = new LlamaConfig(32, 64, 4, 4, 2, 8, 1e-5f, 10000f, 8, 64, false, 0, List.of());
        c.save(dir);
        Map<String, Safetensors.Tensor> t = tensors(c, 2, 2.5, 2024);
        float[] head = t.get(LlamaWeights.LM_HEAD).values();
        for (int i = 0; i < head.length; i++) {
            head[i] *= 0.33f;
        }
        Safetensors.write(dir.resolve("model.safetensors"), t, "F32");
        return dir;
    }

    /** The random tensors by HF name, the residual projections of layers {@code >= exitLayer} times {@code lateScale}. */
    public static Map<String, Safetensors.Tensor> tensors(LlamaConfig c, int exitLayer, double lateScale, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Safetensors.Tensor> out = new LinkedHashMap<>();
        long d = c.hiddenSize();
        out.put(LlamaWeights.EMBED, gaussian(rnd, 0.5, c.vocabSize(), d));
        long[][] shapes = LayerWeights.shapes(c);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (int j = 0; j < shapes.length; j++) {
                String name = LayerWeights.NAMES.get(j);
                long[] shape = shapes[j];
                Safetensors.Tensor t;
                if (shape.length == 1) { // a norm weight
                    t = normWeight(rnd, shape[0]);
                } else {
                    double in = shape[1];
                    double std;
                    if (name.contains("q_proj") || name.contains("k_proj")) {
                        std = Math.sqrt(1.5 / in) * Math.pow(in / c.headDim(), 0.25);
                    } else {
                        std = 1.0 / Math.sqrt(in);
                    }
                    boolean residual = name.contains("o_proj") || name.contains("down_proj");
                    if (residual && i >= exitLayer) {
                        std *= lateScale;
                    }
                    t = gaussian(rnd, std, shape);
                }
                out.put(LlamaWeights.layerName("model.", i, name), t);
            }
        }
        out.put(LlamaWeights.NORM, normWeight(rnd, d));
        if (!c.tieWordEmbeddings()) {
            out.put(LlamaWeights.LM_HEAD, gaussian(rnd, 3.0 / Math.sqrt(d), c.vocabSize(), d));
        }
        return out;
    }

    /**
     * Writes a trained-kind exit head with random weights for layer {@code exitLayer} of a model of config
     * {@code c} into {@code dir}: an untrained drafter whose drafts the target almost never accepts. Its own
     * decoder layer is scaled up ({@code o_proj}, {@code down_proj} x4) so its output swamps {@code h_E}.
     */
    public static Path writeRandomExitHead(Path dir, LlamaConfig c, int exitLayer, long seed) throws IOException {
        Files.createDirectories(dir);
        JsonObject cfg = c.withLayers(1).toJson();
        cfg.addProperty("exit_layer", exitLayer);
        cfg.addProperty("base_num_hidden_layers", c.numHiddenLayers());
        cfg.addProperty("shared_lm_head", true);
        Files.writeString(dir.resolve("config.json"), new GsonBuilder().setPrettyPrinting().create().toJson(cfg));
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        t.put("model.exit_norm.weight", normWeight(rnd, c.hiddenSize()));
        long[][] shapes = LayerWeights.shapes(c);
        for (int j = 0; j < shapes.length; j++) {
            String name = LayerWeights.NAMES.get(j);
            long[] shape = shapes[j];
            double scale = name.contains("o_proj") || name.contains("down_proj") ? 4 : 1;
            t.put(LlamaWeights.layerName("model.", 0, name),
                    shape.length == 1 ? normWeight(rnd, shape[0]) : gaussian(rnd, scale / Math.sqrt(shape[1]), shape));
        }
        t.put(LlamaWeights.NORM, normWeight(rnd, c.hiddenSize()));
        Safetensors.write(dir.resolve("model.safetensors"), t, "F32");
        return dir;
    }

    /** Rewrites {@code eos_token_id} in {@code dir/config.json}. */
    public static void setEos(Path dir, List<Integer> eos) throws IOException {
        Path f = dir.resolve("config.json");
        JsonObject o = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
        JsonArray a = new JsonArray();
        eos.forEach(a::add);
        o.add("eos_token_id", a);
        Files.writeString(f, o.toString());
    }

    private static Safetensors.Tensor normWeight(SplittableRandom rnd, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (1.0 + 0.3 * gaussian(rnd));
        }
        return new Safetensors.Tensor(v, n);
    }

    private static Safetensors.Tensor gaussian(SplittableRandom rnd, double std, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (std * gaussian(rnd));
        }
        return new Safetensors.Tensor(v, shape);
    }

    private static double gaussian(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1.0 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
