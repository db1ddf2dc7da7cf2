package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtSymbolBlock;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.runtime.PackedLinear;
import dev.ppsd.engine.runtime.TorchScripts;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The one decoder layer every scheduler, the exit head and the trainer run, for every {@link Family}: pre-norm
 * RMSNorm, grouped-query attention with RoPE (and the family's q/k/v/o biases, Qwen3's per-head q/k RMSNorm, a
 * sliding window through the mask) and an optional KV cache, and a SwiGLU MLP. Pure functions over DJL NDArrays,
 * differentiable when no cache is used.
 *
 * <p>The arithmetic is written here once as TorchScript and runs in libtorch as two functions a layer: {@code
 * query_key_value} (RMSNorm, the q/k/v projections, the heads, the q/k norms, RoPE) and, after the KV cache (Java:
 * {@link KvCache}, {@link AttentionBatch}), {@code attention_and_mlp} (attention, the o projection, the residuals, the
 * MLP). A layer is thus two calls instead of about fifty DJL operations, each of which makes, registers and frees a
 * Java array object: on the 97M benchmark model single-sequence {@code ar} runs about 5% faster (docs/benchmarks.md).
 * Each function is specialised at first use for a config's shapes and features and for which weights are {@link
 * PackedLinear packed} (q, k and v {@link LayerWeights#qkvStacked stacked} into one); an absent feature is absent
 * from the code. Gradients flow through them as through the operations they are made of.
 *
 * <p>Weights in bfloat16 / float16 run as transformers runs them: activations in that type, RMSNorm and softmax
 * computed in float32 and cast back, logits returned in float32 for sampling. Float32 weights take none of these
 * casts.
 */
public final class DecoderLayer {
    /** The loaded functions, by what they were specialised for. */
    private static final Map<Object, PtSymbolBlock> FUNCTIONS = new ConcurrentHashMap<>();

    /** TorchScript's code for float32 in {@code torch.to(x, 6)}. */
    private static final int FLOAT32 = 6;

    private DecoderLayer() {
    }

    /** What {@code rms_norm} is specialised for: float32 or half activations, and eps. */
    private record NormKey(boolean wide, float eps) {
    }

    /** What {@code lm_head} is specialised for. */
    private record HeadKey(boolean wide, float eps, boolean packed) {
    }

    /** What {@code query_key_value} is specialised for: the config's shapes and features, and the packed weights. */
    private record QkvKey(boolean wide, float eps, int heads, int kvHeads, int headDim, boolean bias, boolean qkNorm,
            boolean stacked, boolean packedQ, boolean packedK, boolean packedV) {
    }

    /** What {@code attention_and_mlp} is specialised for. */
    private record RestKey(boolean wide, float eps, int heads, int kvHeads, int headDim, boolean oBias,
            boolean packedO, boolean packedGate, boolean packedUp, boolean packedDown, boolean pickRows) {
    }

    /**
     * RMSNorm over the last axis: {@code x / sqrt(mean(x^2) + eps) * w}; for a half-precision {@code x} the
     * normalisation runs in float32 and is cast back before the weight (transformers' LlamaRMSNorm).
     */
    public static NDArray rmsNorm(NDArray x, NDArray w, float eps) {
        NormKey key = new NormKey(wide(w), eps);
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> {
            List<String> body = new ArrayList<>();
            norm(body, "y", "x", "w", key.wide(), key.eps());
            body.add("return y");
            return TorchScripts.loadFunction("rms_norm", "x: Tensor, w: Tensor", "Tensor", body);
        });
        return TorchScripts.run(f, x, w);
    }

    /** Final RMSNorm + LM head: {@code [B, T, D] -> [B, T, V]}, in float32 whatever the weights' type. */
    public static NDArray lmHead(NDArray hidden, NDArray norm, NDArray head, float eps) {
        HeadKey key = new HeadKey(wide(head), eps, PackedLinear.isPacked(head));
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> {
            List<String> body = new ArrayList<>();
            norm(body, "n", "x", "norm", key.wide(), key.eps());
            String logits = linear("n", "head", null, key.packed());
            body.add("return " + (key.wide() ? logits : "torch.to(" + logits + ", " + FLOAT32 + ")"));
            return TorchScripts.loadFunction("lm_head", "x: Tensor, norm: Tensor, head: Tensor", "Tensor", body);
        });
        return TorchScripts.run(f, hidden, norm, head);
    }

    /**
     * One decoder layer on {@code x [B, T, D]}; with {@code cache != null} it writes this layer's K/V for the
     * new positions into {@code cache} (layer index {@code cacheLayer}) and attends over the cached prefix.
     */
    public static NDArray forward(LlamaConfig c, LayerWeights w, NDArray x, AttentionBatch a, KvCache cache,
            int cacheLayer) {
        NDList qkv = queryKeyValue(c, w, x, a.ropeTables);
        NDArray q = qkv.get(0);
        NDArray k = qkv.get(1);
        NDArray v = qkv.get(2);
        NDArray rowIndex = null;
        if (cache != null) {
            // [B, KV, T, hd] new -> [R, KV, L, hd] cached prefix (new positions included) of the attention rows
            NDArray[] kv = cache.appendAndRead(cacheLayer, k, v, a);
            k = kv[0];
            v = kv[1];
            q = a.toRows(q); // [B, H, T, hd] -> [R, H, T, hd]
            rowIndex = a.rowIndex;
        }
        return attentionAndMlp(c, w, x, q, k, v, a.mask, rowIndex);
    }

    /** {@code x [B, T, D]} to the rotated queries {@code [B, H, T, hd]}, keys and values {@code [B, KV, T, hd]}. */
    private static NDList queryKeyValue(LlamaConfig c, LayerWeights w, NDArray x, NDArray[] ropeTables) {
        QkvKey key = new QkvKey(wide(w.q()), c.rmsNormEps(), c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(),
                w.qBias() != null, w.qNorm() != null, w.qkvStacked(), PackedLinear.isPacked(w.q()),
                PackedLinear.isPacked(w.k()), PackedLinear.isPacked(w.v()));
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> queryKeyValueFunction(key));
        List<NDArray> in = new ArrayList<>(key.stacked() ? List.of(x, w.inputNorm(), w.q())
                : List.of(x, w.inputNorm(), w.q(), w.k(), w.v()));
        if (key.bias()) {
            in.addAll(List.of(w.qBias(), w.kBias(), w.vBias()));
        }
        if (key.qkNorm()) {
            in.addAll(List.of(w.qNorm(), w.kNorm()));
        }
        in.addAll(List.of(ropeTables));
        return TorchScripts.runTuple(f, in.toArray(new NDArray[0]));
    }

    private static PtSymbolBlock queryKeyValueFunction(QkvKey k) {
        List<String> b = new ArrayList<>();
        b.add("b = x.size(0)");
        b.add("t = x.size(1)");
        norm(b, "n", "x", "norm", k.wide(), k.eps());
        if (k.stacked()) { // one packed weight [q; k; v]: one call, its outputs side by side
            int qd = k.heads() * k.headDim();
            int kvd = k.kvHeads() * k.headDim();
            b.add("qkv = " + linear("n", "wqkv", null, true));
            b.add("q = torch.narrow(qkv, -1, 0, " + qd + ")");
            b.add("k = torch.narrow(qkv, -1, " + qd + ", " + kvd + ")");
            b.add("v = torch.narrow(qkv, -1, " + (qd + kvd) + ", " + kvd + ")");
            if (k.bias()) {
                b.add("q = torch.add(q, bq)");
                b.add("k = torch.add(k, bk)");
                b.add("v = torch.add(v, bv)");
            }
        } else {
            b.add("q = " + linear("n", "wq", k.bias() ? "bq" : null, k.packedQ()));
            b.add("k = " + linear("n", "wk", k.bias() ? "bk" : null, k.packedK()));
            b.add("v = " + linear("n", "wv", k.bias() ? "bv" : null, k.packedV()));
        }
        // [B, T, n*hd] -> [B, T, n, hd] -> [B, n, T, hd]; one reshape when T == 1 (the same memory order)
        String[][] heads = {{"q", String.valueOf(k.heads())}, {"k", String.valueOf(k.kvHeads())},
            {"v", String.valueOf(k.kvHeads())}};
        b.add("if t == 1:");
        for (String[] p : heads) {
            b.add("  " + p[0] + " = torch.reshape(" + p[0] + ", [b, " + p[1] + ", 1, " + k.headDim() + "])");
        }
        b.add("else:");
        for (String[] p : heads) {
            b.add("  " + p[0] + " = torch.transpose(torch.reshape(" + p[0] + ", [b, t, " + p[1] + ", " + k.headDim()
                    + "]), 1, 2)");
        }
        if (k.qkNorm()) { // Qwen3: RMSNorm over each head's hd values, before RoPE
            norm(b, "q", "q", "qn", k.wide(), k.eps());
            norm(b, "k", "k", "kn", k.wide(), k.eps());
        }
        // RoPE with the tables of Rope#tables: x * cos + rotate_half(x) * sin, rotate_half as a matrix product
        b.add("q = torch.add(torch.mul(q, cos), torch.mul(torch.matmul(q, rot), sin))");
        b.add("k = torch.add(torch.mul(k, cos), torch.mul(torch.matmul(k, rot), sin))");
        b.add("return (q, k, v)");
        String params = "x: Tensor, norm: Tensor, "
                + (k.stacked() ? "wqkv: Tensor" : "wq: Tensor, wk: Tensor, wv: Tensor")
                + (k.bias() ? ", bq: Tensor, bk: Tensor, bv: Tensor" : "")
                + (k.qkNorm() ? ", qn: Tensor, kn: Tensor" : "")
                + ", cos: Tensor, sin: Tensor, rot: Tensor";
        return TorchScripts.loadFunction("query_key_value", params, "Tuple[Tensor, Tensor, Tensor]", b);
    }

    /**
     * The rest of the layer: queries {@code q [R, H, T, hd]} against keys and values {@code [R, KV, L, hd]} under the
     * additive {@code mask [R, 1, 1, T, L]}, the attention rows picked back to batch rows by {@code rowIndex} (null
     * when they are the same rows), then {@code h = x + o(attn)} and {@code h + mlp(h)}: {@code [B, T, D]}.
     */
    private static NDArray attentionAndMlp(LlamaConfig c, LayerWeights w, NDArray x, NDArray q, NDArray k, NDArray v,
            NDArray mask, NDArray rowIndex) {
        RestKey key = new RestKey(wide(w.o()), c.rmsNormEps(), c.numAttentionHeads(), c.numKeyValueHeads(),
                c.headDim(), w.oBias() != null, PackedLinear.isPacked(w.o()), PackedLinear.isPacked(w.gate()),
                PackedLinear.isPacked(w.up()), PackedLinear.isPacked(w.down()), rowIndex != null);
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> attentionAndMlpFunction(key));
        List<NDArray> in = new ArrayList<>(List.of(x, q, k, v, mask, w.o()));
        if (key.oBias()) {
            in.add(w.oBias());
        }
        in.addAll(List.of(w.postAttentionNorm(), w.gate(), w.up(), w.down()));
        if (rowIndex != null) {
            in.add(rowIndex);
        }
        return TorchScripts.run(f, in.toArray(new NDArray[0]));
    }

    private static PtSymbolBlock attentionAndMlpFunction(RestKey k) {
        int h = k.heads();
        int kvh = k.kvHeads();
        int g = h / kvh;
        int hd = k.headDim();
        List<String> b = new ArrayList<>();
        b.add("bt = x.size(0)");
        b.add("t = x.size(1)");
        b.add("r = keys.size(0)");
        b.add("l = keys.size(2)");
        // grouped-query attention without copying K/V: query head j uses kv head j / G, so the G query heads of a kv
        // head are G*T query rows against the same keys (batch dims match exactly: no broadcast copy)
        // q [R, H, T, hd] -> [R, KV, G*T, hd]; scores [R, KV, G*T, L] -> [R, KV, G, T, L] (+ mask [R, 1, 1, T, L])
        b.add("s = torch.matmul(torch.reshape(q, [r, " + kvh + ", " + g + " * t, " + hd
                + "]), torch.transpose(keys, 2, 3))");
        b.add("s = torch.add(torch.reshape(torch.mul(s, " + (1.0f / (float) Math.sqrt(hd)) + "), [r, " + kvh + ", "
                + g + ", t, l]), mask)");
        b.add(k.wide() ? "p = torch.softmax(s, -1)"
                : "p = torch.to(torch.softmax(torch.to(s, " + FLOAT32 + "), -1), s.dtype)");
        // [R, KV, G*T, L] x [R, KV, L, hd] -> [R, KV, G*T, hd] -> [R, H, T, hd] (-> [B, H, T, hd])
        b.add("a = torch.reshape(torch.matmul(torch.reshape(p, [r, " + kvh + ", " + g + " * t, l]), values), [r, " + h
                + ", t, " + hd + "])");
        if (k.pickRows()) {
            b.add("a = torch.index_select(a, 0, rows)");
        }
        // [B, H, T, hd] -> [B, T, H, hd] -> [B, T, H*hd] (one reshape when T == 1: the same memory order)
        b.add("if t == 1:");
        b.add("  a = torch.reshape(a, [bt, 1, " + h * hd + "])");
        b.add("else:");
        b.add("  a = torch.reshape(torch.transpose(a, 1, 2), [bt, t, " + h * hd + "])");
        b.add("hidden = torch.add(x, " + linear("a", "wo", k.oBias() ? "bo" : null, k.packedO()) + ")");
        // MLP block: hidden + down(silu(gate(norm(hidden))) * up(norm(hidden)))
        norm(b, "m", "hidden", "post_norm", k.wide(), k.eps());
        b.add("gate = " + linear("m", "wg", null, k.packedGate()));
        b.add("act = torch.mul(torch.mul(gate, torch.sigmoid(gate)), " + linear("m", "wu", null, k.packedUp()) + ")");
        b.add("return torch.add(hidden, " + linear("act", "wd", null, k.packedDown()) + ")");
        String params = "x: Tensor, q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, wo: Tensor"
                + (k.oBias() ? ", bo: Tensor" : "") + ", post_norm: Tensor, wg: Tensor, wu: Tensor, wd: Tensor"
                + (k.pickRows() ? ", rows: Tensor" : "");
        return TorchScripts.loadFunction("attention_and_mlp", params, "Tensor", b);
    }

    /**
     * Lines computing {@code dst = rmsNorm(x, w)}: in float32 for a half-precision {@code x}, cast back to its type
     * before the weight (transformers' LlamaRMSNorm).
     */
    private static void norm(List<String> b, String dst, String x, String w, boolean wide, float eps) {
        String t = dst + "_";
        b.add(t + " = " + (wide ? x : "torch.to(" + x + ", " + FLOAT32 + ")"));
        b.add(t + " = torch.div(" + t + ", torch.sqrt(torch.add(torch.mean(torch.square(" + t + "), [-1], True), "
                + eps + ")))");
        b.add(dst + " = torch.mul(" + (wide ? t : "torch.to(" + t + ", " + x + ".dtype)") + ", " + w + ")");
    }

    /** {@code x W^T (+ bias)}: oneDNN's packed linear for a {@link PackedLinear} weight, else PyTorch's linear. */
    private static String linear(String x, String w, String bias, boolean packed) {
        String b = bias == null ? "None" : bias;
        return packed ? PackedLinear.scriptCall(x, w, b) : "torch.linear(" + x + ", " + w + ", " + b + ")";
    }

    /** Whether weight {@code w} is float32 (no casts), by its type as {@link Bfloat16} reads it. */
    private static boolean wide(NDArray w) {
        return Bfloat16.typeOf(w) == DataType.FLOAT32;
    }
}
