package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.Safetensors;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Test oracle: a scalar, plain-Java Llama forward pass written independently of the DJL path. It has its own
 * safetensors reader and config.json parser (it must not share code with {@code Safetensors} / {@code LlamaConfig},
 * or a shared bug would cancel out), keeps the hidden state in {@code double}, and runs one token at a time with
 * its own KV cache, so causality holds by construction.
 *
 * <p>Hugging Face conventions: projection weights are {@code [out, in]} row-major and {@code y = W x}; RoPE uses
 * {@code inv_freq[i] = theta^(-2i/hd)} and {@code rotate_half(x) = cat(-x[hd/2:], x[:hd/2])} per head; query
 * head {@code h} uses KV head {@code h / (H / KV)}.
 *
 * <p>Family features, each from its transformers definition and decided from config.json as transformers does
 * (not from which tensors happen to be present): q/k/v biases ({@code Qwen2ForCausalLM} always; {@code
 * attention_bias} of Llama / Qwen3, which also biases o), Qwen3's per-head q/k RMSNorm before RoPE, an explicit
 * {@code head_dim}, {@code rope_scaling} ({@code linear}: inv_freq / factor; {@code dynamic}: NTK base
 * {@code theta * (factor * L / max - (factor - 1))^(hd / (hd - 2))} with {@code L = max(sequence length, max)};
 * {@code llama3}: by wavelength), Mistral's {@code sliding_window} (and Qwen's with {@code use_sliding_window}):
 * a query at p sees keys j with {@code p - W < j <= p}; tied embeddings (a stored {@code lm_head.weight} is then
 * ignored, as transformers ties it).
 *
 * <p>{@link Variant}s deliberately break one convention; tests use them to prove that the comparison with the
 * DJL path is sensitive enough to catch that kind of bug.
 */
final class ReferenceLlama {

    /** Deliberate mistakes, used only to show a test would detect them. */
    enum Variant {
        /** The correct model. */
        EXACT,
        /** No rotary embedding at all. */
        NO_ROPE,
        /** GPT-J style RoPE: rotate adjacent pairs (x[2i], x[2i+1]) instead of halves. */
        INTERLEAVED_ROPE,
        /** Wrong GQA mapping: query head h uses KV head h % KV instead of h / (H/KV). */
        GQA_MODULO,
        /** RMSNorm without the learned weight. */
        NORM_WEIGHTS_IGNORED,
        /** rope_scaling ignored: plain RoPE frequencies. */
        NO_ROPE_SCALING,
        /** dynamic NTK scaling applied as if the sequence were factor x max_position_embeddings long. */
        DYNAMIC_ALWAYS_EXTENDED,
        /** q/k/v/o biases ignored. */
        NO_BIAS,
        /** Qwen3's per-head q/k RMSNorm skipped. */
        NO_QK_NORM,
        /** The attention scale from hidden_size / heads instead of head_dim. */
        SCALE_FROM_HIDDEN,
        /** The sliding window ignored: every query sees the whole prefix. */
        NO_SLIDING_WINDOW,
        /** Tied embeddings ignored: the stored lm_head.weight used as the LM head. */
        TIE_IGNORED
    }

    // ---- config ----
    final int hidden; // D
    final int inter; // I
    final int layers; // N
    final int heads; // H
    final int kvHeads; // KV
    final int headDim; // hd
    final double eps;
    final double theta;
    final int vocab; // V
    final boolean tied;
    final String architecture;
    final boolean qkvBias;
    final boolean oBias;
    final boolean qkNorm;
    final int window; // sliding window W, 0 = none
    final int maxPos;
    private final JsonObject ropeScaling; // null = plain
    private final Variant variant;

    // ---- weights (float, as stored) ----
    private final float[] embed; // [V, D]
    private final float[][] inNorm; // [N][D]
    private final float[][] wq; // [N][H*hd, D]
    private final float[][] wk; // [N][KV*hd, D]
    private final float[][] wv; // [N][KV*hd, D]
    private final float[][] wo; // [N][D, H*hd]
    private final float[][] postNorm; // [N][D]
    private final float[][] wGate; // [N][I, D]
    private final float[][] wUp; // [N][I, D]
    private final float[][] wDown; // [N][D, I]
    private final float[] finalNorm; // [D]
    private final float[] lmHead; // [V, D] (the embedding when tied)
    private final float[][] bq; // [N][H*hd] or null
    private final float[][] bk; // [N][KV*hd]
    private final float[][] bv; // [N][KV*hd]
    private final float[][] bo; // [N][D]
    private final float[][] qNorm; // [N][hd] or null
    private final float[][] kNorm; // [N][hd]

    // ---- KV cache: per layer, one float[KV*hd] per position (after RoPE for keys) ----
    private final List<List<float[]>> keyCache = new ArrayList<>();
    private final List<List<float[]>> valueCache = new ArrayList<>();
    private int pos; // next position

    private ReferenceLlama(Path dir, Variant variant) throws IOException {
        this.variant = variant;
        JsonObject c = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        hidden = c.get("hidden_size").getAsInt();
        inter = c.get("intermediate_size").getAsInt();
        layers = c.get("num_hidden_layers").getAsInt();
        heads = c.get("num_attention_heads").getAsInt();
        kvHeads = has(c, "num_key_value_heads") ? c.get("num_key_value_heads").getAsInt() : heads;
        headDim = has(c, "head_dim") ? c.get("head_dim").getAsInt() : hidden / heads;
        eps = has(c, "rms_norm_eps") ? c.get("rms_norm_eps").getAsDouble() : 1e-6;
        theta = has(c, "rope_theta") ? c.get("rope_theta").getAsDouble() : 10000.0;
        vocab = c.get("vocab_size").getAsInt();
        tied = has(c, "tie_word_embeddings") && c.get("tie_word_embeddings").getAsBoolean();
        maxPos = c.get("max_position_embeddings").getAsInt();
        architecture = has(c, "architectures") ? c.getAsJsonArray("architectures").get(0).getAsString()
                : "LlamaForCausalLM";
        boolean attentionBias = has(c, "attention_bias") && c.get("attention_bias").getAsBoolean();
        boolean llamaOrQwen3 = architecture.equals("LlamaForCausalLM") || architecture.equals("Qwen3ForCausalLM");
        // transformers: Qwen2Attention has q/k/v biases hard-wired, o_proj none; Llama / Qwen3 bias all four
        // projections with attention_bias; Mistral has no biases
        qkvBias = architecture.equals("Qwen2ForCausalLM") || (llamaOrQwen3 && attentionBias);
        oBias = llamaOrQwen3 && attentionBias;
        qkNorm = architecture.equals("Qwen3ForCausalLM");
        int w = 0;
        if (architecture.equals("MistralForCausalLM")
                || (architecture.startsWith("Qwen") && has(c, "use_sliding_window")
                        && c.get("use_sliding_window").getAsBoolean())) {
            w = has(c, "sliding_window") ? c.get("sliding_window").getAsInt() : 0;
        }
        window = w;
        ropeScaling = has(c, "rope_scaling") ? c.getAsJsonObject("rope_scaling") : null;

        Map<String, float[]> t = readAllTensors(dir);
        embed = tensor(t, "model.embed_tokens.weight", vocab * hidden);
        inNorm = new float[layers][];
        wq = new float[layers][];
        wk = new float[layers][];
        wv = new float[layers][];
        wo = new float[layers][];
        postNorm = new float[layers][];
        wGate = new float[layers][];
        wUp = new float[layers][];
        wDown = new float[layers][];
        bq = qkvBias ? new float[layers][] : null;
        bk = qkvBias ? new float[layers][] : null;
        bv = qkvBias ? new float[layers][] : null;
        bo = oBias ? new float[layers][] : null;
        qNorm = qkNorm ? new float[layers][] : null;
        kNorm = qkNorm ? new float[layers][] : null;
        int qd = heads * headDim;
        int kvd = kvHeads * headDim;
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            inNorm[l] = tensor(t, p + "input_layernorm.weight", hidden);
            wq[l] = tensor(t, p + "self_attn.q_proj.weight", qd * hidden);
            wk[l] = tensor(t, p + "self_attn.k_proj.weight", kvd * hidden);
            wv[l] = tensor(t, p + "self_attn.v_proj.weight", kvd * hidden);
            wo[l] = tensor(t, p + "self_attn.o_proj.weight", hidden * qd);
            postNorm[l] = tensor(t, p + "post_attention_layernorm.weight", hidden);
            wGate[l] = tensor(t, p + "mlp.gate_proj.weight", inter * hidden);
            wUp[l] = tensor(t, p + "mlp.up_proj.weight", inter * hidden);
            wDown[l] = tensor(t, p + "mlp.down_proj.weight", hidden * inter);
            if (qkvBias) {
                bq[l] = tensor(t, p + "self_attn.q_proj.bias", qd);
                bk[l] = tensor(t, p + "self_attn.k_proj.bias", kvd);
                bv[l] = tensor(t, p + "self_attn.v_proj.bias", kvd);
            }
            if (oBias) {
                bo[l] = tensor(t, p + "self_attn.o_proj.bias", hidden);
            }
            if (qkNorm) {
                qNorm[l] = tensor(t, p + "self_attn.q_norm.weight", headDim);
                kNorm[l] = tensor(t, p + "self_attn.k_norm.weight", headDim);
            }
            keyCache.add(new ArrayList<>());
            valueCache.add(new ArrayList<>());
        }
        finalNorm = tensor(t, "model.norm.weight", hidden);
        lmHead = tied && variant != Variant.TIE_IGNORED ? embed : tensor(t, "lm_head.weight", vocab * hidden);
    }

    /**
     * RoPE inverse frequencies {@code [hd/2]} for a forward whose sequence is {@code seqLen} long (only dynamic
     * scaling depends on it), from transformers' modeling_rope_utils.
     */
    private double[] invFreq(int seqLen) {
        double base = theta;
        String type = ropeScaling == null || variant == Variant.NO_ROPE_SCALING ? "default"
                : ropeScaling.has("rope_type") ? ropeScaling.get("rope_type").getAsString()
                : ropeScaling.get("type").getAsString();
        double factor = type.equals("default") ? 1 : ropeScaling.get("factor").getAsDouble();
        if (type.equals("dynamic")) {
            double len = variant == Variant.DYNAMIC_ALWAYS_EXTENDED ? factor * maxPos : Math.max(seqLen, maxPos);
            base = theta * Math.pow(factor * len / maxPos - (factor - 1), headDim / (headDim - 2.0));
        }
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = Math.pow(base, -2.0 * i / headDim);
            if (type.equals("linear")) {
                f[i] /= factor;
            } else if (type.equals("llama3")) {
                double old = ropeScaling.get("original_max_position_embeddings").getAsDouble();
                double lowFreqWavelen = old / ropeScaling.get("low_freq_factor").getAsDouble();
                double highFreqWavelen = old / ropeScaling.get("high_freq_factor").getAsDouble();
                double wavelen = 2 * Math.PI / f[i];
                if (wavelen > lowFreqWavelen) {
                    f[i] /= factor; // low frequency: interpolated by the full factor
                } else if (wavelen >= highFreqWavelen) { // medium: smooth blend of scaled and unscaled
                    double lo = ropeScaling.get("low_freq_factor").getAsDouble();
                    double hi = ropeScaling.get("high_freq_factor").getAsDouble();
                    double smooth = (old / wavelen - lo) / (hi - lo);
                    f[i] = (1 - smooth) * f[i] / factor + smooth * f[i];
                } // high frequency: unchanged
            }
        }
        return f;
    }

    static ReferenceLlama load(Path dir) throws IOException {
        return new ReferenceLlama(dir, Variant.EXACT);
    }

    static ReferenceLlama load(Path dir, Variant variant) throws IOException {
        return new ReferenceLlama(dir, variant);
    }

    /** Number of tokens processed so far (the position the next token gets). */
    int position() {
        return pos;
    }

    /** Feeds every token in order; returns the next-token logits after each {@code [T][V]}. */
    float[][] prefill(int[] tokens) {
        float[][] out = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = step(tokens[i]);
        }
        return out;
    }

    /** Appends {@code token} at the next position and returns the next-token logits {@code [V]}. */
    float[] step(int token) {
        if (token < 0 || token >= vocab) {
            throw new IllegalArgumentException("token " + token + " outside [0, " + vocab + ")");
        }
        int p = pos++;
        int qd = heads * headDim;
        int kvd = kvHeads * headDim;
        int group = heads / kvHeads;
        double scale = 1.0 / Math.sqrt(variant == Variant.SCALE_FROM_HIDDEN ? (double) hidden / heads : headDim);
        double[] invFreq = invFreq(p + 1);
        boolean biases = variant != Variant.NO_BIAS;

        double[] x = new double[hidden]; // [D] residual stream
        for (int d = 0; d < hidden; d++) {
            x[d] = embed[token * hidden + d];
        }
        for (int l = 0; l < layers; l++) {
            // --- attention block ---
            double[] n = rmsNorm(x, inNorm[l]); // [D]
            double[] q = matVec(wq[l], n, qd, hidden); // [H*hd]
            double[] k = matVec(wk[l], n, kvd, hidden); // [KV*hd]
            double[] v = matVec(wv[l], n, kvd, hidden); // [KV*hd]
            if (qkvBias && biases) {
                addTo(q, bq[l]);
                addTo(k, bk[l]);
                addTo(v, bv[l]);
            }
            if (qkNorm && variant != Variant.NO_QK_NORM) { // RMSNorm of each head's hd values
                headNorm(q, heads, qNorm[l]);
                headNorm(k, kvHeads, kNorm[l]);
            }
            rope(q, heads, p, invFreq);
            rope(k, kvHeads, p, invFreq);
            keyCache.get(l).add(toFloat(k));
            valueCache.get(l).add(toFloat(v));
            List<float[]> keys = keyCache.get(l);
            List<float[]> values = valueCache.get(l);
            int len = keys.size(); // == p + 1: causal by construction
            // keys a query at p sees: p - W < j <= p with a sliding window W, else all
            int first = window > 0 && variant != Variant.NO_SLIDING_WINDOW ? Math.max(0, p - window + 1) : 0;
            double[] attn = new double[qd]; // [H*hd]
            double[] scores = new double[len];
            for (int h = 0; h < heads; h++) {
                int kvh = variant == Variant.GQA_MODULO ? h % kvHeads : h / group;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j < len; j++) {
                    float[] kj = keys.get(j);
                    double s = 0;
                    for (int i = 0; i < headDim; i++) {
                        s += q[h * headDim + i] * kj[kvh * headDim + i];
                    }
                    scores[j] = s * scale;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = first; j < len; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = first; j < len; j++) {
                    float[] vj = values.get(j);
                    double w = scores[j] / sum;
                    for (int i = 0; i < headDim; i++) {
                        attn[h * headDim + i] += w * vj[kvh * headDim + i];
                    }
                }
            }
            double[] o = matVec(wo[l], attn, hidden, qd); // [D]
            if (oBias && biases) {
                addTo(o, bo[l]);
            }
            for (int d = 0; d < hidden; d++) {
                x[d] += o[d];
            }
            // --- MLP block: down(silu(gate m) * up m) ---
            double[] m = rmsNorm(x, postNorm[l]); // [D]
            double[] g = matVec(wGate[l], m, inter, hidden); // [I]
            double[] u = matVec(wUp[l], m, inter, hidden); // [I]
            double[] act = new double[inter]; // [I]
            for (int i = 0; i < inter; i++) {
                act[i] = g[i] / (1.0 + Math.exp(-g[i])) * u[i];
            }
            double[] down = matVec(wDown[l], act, hidden, inter); // [D]
            for (int d = 0; d < hidden; d++) {
                x[d] += down[d];
            }
        }
        double[] f = rmsNorm(x, finalNorm); // [D]
        double[] logits = matVec(lmHead, f, vocab, hidden); // [V]
        return toFloat(logits);
    }

    /** {@code x / sqrt(mean(x^2) + eps) * w}. */
    private double[] rmsNorm(double[] x, float[] w) {
        double ss = 0;
        for (double e : x) {
            ss += e * e;
        }
        double inv = 1.0 / Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * (variant == Variant.NORM_WEIGHTS_IGNORED ? 1.0 : w[i]);
        }
        return out;
    }

    /** {@code x += b}. */
    private static void addTo(double[] x, float[] b) {
        for (int i = 0; i < x.length; i++) {
            x[i] += b[i];
        }
    }

    /** In-place RMSNorm of each of the {@code nHeads} heads of {@code x [nHeads * hd]} with weight {@code w [hd]}. */
    private void headNorm(double[] x, int nHeads, float[] w) {
        for (int h = 0; h < nHeads; h++) {
            double[] head = Arrays.copyOfRange(x, h * headDim, (h + 1) * headDim);
            System.arraycopy(rmsNorm(head, w), 0, x, h * headDim, headDim);
        }
    }

    /** {@code y[r] = sum_c W[r, c] x[c]} for row-major {@code W [rows, cols]}. */
    private static double[] matVec(float[] w, double[] x, int rows, int cols) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            int base = r * cols;
            for (int c = 0; c < cols; c++) {
                s += w[base + c] * x[c];
            }
            y[r] = s;
        }
        return y;
    }

    /** In-place RoPE at position {@code p} on {@code x [nHeads * hd]}. */
    private void rope(double[] x, int nHeads, int p, double[] invFreq) {
        if (variant == Variant.NO_ROPE) {
            return;
        }
        int half = headDim / 2;
        double[] head = new double[headDim];
        for (int h = 0; h < nHeads; h++) {
            int o = h * headDim;
            System.arraycopy(x, o, head, 0, headDim);
            if (variant == Variant.INTERLEAVED_ROPE) {
                for (int i = 0; i < half; i++) {
                    double a = p * invFreq[i];
                    double x0 = head[2 * i];
                    double x1 = head[2 * i + 1];
                    x[o + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
                    x[o + 2 * i + 1] = x1 * Math.cos(a) + x0 * Math.sin(a);
                }
                continue;
            }
            for (int j = 0; j < headDim; j++) {
                double a = p * invFreq[j % half];
                double rotated = j < half ? -head[j + half] : head[j - half]; // rotate_half(x)[j]
                x[o + j] = head[j] * Math.cos(a) + rotated * Math.sin(a);
            }
        }
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    private static boolean has(JsonObject o, String field) {
        return o.has(field) && !o.get(field).isJsonNull();
    }

    private static float[] tensor(Map<String, float[]> t, String name, int expectedLength) {
        float[] v = t.get(name);
        if (v == null) {
            throw new IllegalStateException("reference: tensor " + name + " missing");
        }
        if (v.length != expectedLength) {
            throw new IllegalStateException("reference: tensor " + name + " has " + v.length + " values, expected "
                    + expectedLength);
        }
        return v;
    }

    // ---------------- minimal safetensors reader (independent of Safetensors.java) ----------------

    /** All tensors of {@code model.safetensors} or of the shards named in {@code model.safetensors.index.json}. */
    private static Map<String, float[]> readAllTensors(Path dir) throws IOException {
        Path single = dir.resolve("model.safetensors");
        if (Files.exists(single)) {
            return readSafetensors(single);
        }
        JsonObject index = JsonParser.parseString(Files.readString(dir.resolve("model.safetensors.index.json")))
                .getAsJsonObject().getAsJsonObject("weight_map");
        Map<String, float[]> out = new HashMap<>();
        for (String shard : index.entrySet().stream().map(e -> e.getValue().getAsString()).distinct().toList()) {
            out.putAll(readSafetensors(dir.resolve(shard)));
        }
        return out;
    }

    /** Layout: u64 LE header length n, n bytes of JSON header, then the data section (offsets relative to it). */
    static Map<String, float[]> readSafetensors(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        JsonObject header = JsonParser.parseString(new String(all, 8, (int) n, StandardCharsets.UTF_8))
                .getAsJsonObject();
        int data = 8 + (int) n;
        Map<String, float[]> out = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonObject t = e.getValue().getAsJsonObject();
            String dtype = t.get("dtype").getAsString();
            int count = 1;
            for (JsonElement d : t.getAsJsonArray("shape")) {
                count *= d.getAsInt();
            }
            JsonArray offs = t.getAsJsonArray("data_offsets");
            int begin = data + offs.get(0).getAsInt();
            int end = data + offs.get(1).getAsInt();
            float[] v = new float[count];
            switch (dtype) {
                case "F32" -> {
                    check(end - begin == 4 * count, e.getKey());
                    for (int i = 0; i < count; i++) {
                        v[i] = bb.getFloat(begin + 4 * i);
                    }
                }
                case "F16" -> {
                    check(end - begin == 2 * count, e.getKey());
                    for (int i = 0; i < count; i++) {
                        v[i] = (float) halfToDouble(bb.getShort(begin + 2 * i) & 0xffff);
                    }
                }
                case "BF16" -> {
                    check(end - begin == 2 * count, e.getKey());
                    for (int i = 0; i < count; i++) {
                        // bfloat16 is the top half of an IEEE float32
                        v[i] = Float.intBitsToFloat((bb.getShort(begin + 2 * i) & 0xffff) << 16);
                    }
                }
                default -> throw new IllegalStateException("reference: unsupported dtype " + dtype);
            }
            out.put(e.getKey(), v);
        }
        return out;
    }

    /** IEEE 754 binary16 by its definition: (-1)^s * 2^(e-15) * 1.m, subnormals 2^-14 * 0.m. */
    private static double halfToDouble(int bits) {
        int sign = (bits >> 15) & 1;
        int exp = (bits >> 10) & 0x1f;
        int mant = bits & 0x3ff;
        double mag;
        if (exp == 0x1f) {
            mag = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else if (exp == 0) {
            mag = Math.scalb(mant / 1024.0, -14);
        } else {
            mag = Math.scalb(1.0 + mant / 1024.0, exp - 15);
        }
        return sign == 1 ? -mag : mag;
    }

    private static void check(boolean ok, String name) {
        if (!ok) {
            throw new IllegalStateException("reference: tensor " + name + " byte length does not match its shape");
        }
    }
}
