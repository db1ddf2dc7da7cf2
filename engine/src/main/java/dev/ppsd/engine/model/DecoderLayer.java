package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.runtime.PackedLinear;

/**
 * The one decoder layer every scheduler, the exit head and the trainer run, for every {@link Family}: pre-norm
 * RMSNorm, grouped-query attention with RoPE (and the family's q/k/v/o biases, Qwen3's per-head q/k RMSNorm, a
 * sliding window through the mask) and an optional KV cache, and a SwiGLU MLP. Pure functions over DJL NDArrays
 * (differentiable when no cache is used). The features cost nothing when absent: a bias is the third argument of
 * the same linear op, the window lives in the mask.
 *
 * <p>Weights in bfloat16 / float16 run as transformers runs them: activations in that type, RMSNorm and softmax
 * computed in float32 and cast back, logits returned in float32 for sampling. Float32 weights take none of these
 * casts.
 */
public final class DecoderLayer {
    private DecoderLayer() {
    }

    /**
     * RMSNorm over the last axis: {@code x / sqrt(mean(x^2) + eps) * w}; for a half-precision {@code x} the
     * normalisation runs in float32 and is cast back before the weight (transformers' LlamaRMSNorm).
     */
    public static NDArray rmsNorm(NDArray x, NDArray w, float eps) {
        // x is in the weights' type; a weight's type is a field once asked (an activation's would be a JNI call)
        boolean wide = w.getDataType() == DataType.FLOAT32;
        NDArray x32 = wide ? x : x.toType(DataType.FLOAT32, false);
        NDArray rms = x32.square().mean(new int[] {-1}, true).add(Scalars.of(w.getDevice(), eps)).sqrt();
        NDArray normed = x32.div(rms);
        return (wide ? normed : Bfloat16.toType(normed, Bfloat16.typeOf(w))).mul(w);
    }

    /** {@code [B, T, n*hd] -> [B, T, n, hd] -> [B, n, T, hd]}; one reshape when T == 1 (the same memory order). */
    private static NDArray heads(NDArray x, long b, long t, int n, int hd) {
        return t == 1 ? x.reshape(b, n, 1, hd) : x.reshape(b, t, n, hd).transpose(0, 2, 1, 3);
    }

    /** Final RMSNorm + LM head: {@code [B, T, D] -> [B, T, V]}, in float32 whatever the weights' type. */
    public static NDArray lmHead(NDArray hidden, NDArray norm, NDArray head, float eps) {
        NDArray logits = linear(rmsNorm(hidden, norm, eps), head, null);
        return head.getDataType() == DataType.FLOAT32 ? logits : logits.toType(DataType.FLOAT32, false);
    }

    /**
     * One decoder layer on {@code x [B, T, D]}; with {@code cache != null} it writes this layer's K/V for the
     * new positions into {@code cache} (layer index {@code cacheLayer}) and attends over the cached prefix.
     */
    public static NDArray forward(LlamaConfig c, LayerWeights w, NDArray x, AttentionBatch a, KvCache cache,
            int cacheLayer) {
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        int h = c.numAttentionHeads();
        int kvh = c.numKeyValueHeads();
        int hd = c.headDim();

        // attention block: h = x + o(attn(norm(x)))
        NDArray n = rmsNorm(x, w.inputNorm(), c.rmsNormEps());
        NDArray q = heads(linear(n, w.q(), w.qBias()), b, t, h, hd);
        NDArray k = heads(linear(n, w.k(), w.kBias()), b, t, kvh, hd);
        NDArray v = heads(linear(n, w.v(), w.vBias()), b, t, kvh, hd);
        if (w.qNorm() != null) { // Qwen3: RMSNorm over each head's hd values, before RoPE
            q = rmsNorm(q, w.qNorm(), c.rmsNormEps());
            k = rmsNorm(k, w.kNorm(), c.rmsNormEps());
        }
        q = Rope.rotate(q, a.ropeTables);
        k = Rope.rotate(k, a.ropeTables);
        if (cache != null) {
            // [B, KV, T, hd] new -> [R, KV, L, hd] cached prefix (new positions included) of the attention rows
            NDArray[] kv = cache.appendAndRead(cacheLayer, k, v, a);
            k = kv[0];
            v = kv[1];
            q = a.toRows(q); // [B, H, T, hd] -> [R, H, T, hd]
        }
        long r = k.getShape().get(0);
        long l = k.getShape().get(2);
        long gt = (long) (h / kvh) * t;
        // grouped-query attention without copying K/V: query head j uses kv head j / G, so the G query heads of
        // a kv head are G*T query rows against the same keys (batch dims match exactly: no broadcast copy)
        // q [R, H, T, hd] -> [R, KV, G*T, hd]; scores [R, KV, G*T, L] -> [R, KV, G, T, L] (+ mask [R, 1, 1, T, L])
        NDArray scores = q.reshape(r, kvh, gt, hd).matMul(k.transpose(0, 1, 3, 2))
                .mul(Scalars.of(w.o().getDevice(), 1.0f / (float) Math.sqrt(hd))).reshape(r, kvh, h / kvh, t, l).add(a.mask);
        // [R, KV, G*T, L] x [R, KV, L, hd] -> [R, KV, G*T, hd] -> [R, H, T, hd] -> [B, H, T, hd]
        NDArray attn = a.fromRows(softmax(scores, w.o()).reshape(r, kvh, gt, l).matMul(v).reshape(r, h, t, hd));
        // [B, H, T, hd] -> [B, T, H, hd] -> [B, T, H*hd] (one reshape when T == 1: the same memory order)
        NDArray merged = t == 1 ? attn.reshape(b, 1, (long) h * hd)
                : attn.transpose(0, 2, 1, 3).reshape(b, t, (long) h * hd);
        NDArray hidden = x.add(linear(merged, w.o(), w.oBias()));

        // MLP block: out = h + down(silu(gate(norm(h))) * up(norm(h)))
        NDArray m = rmsNorm(hidden, w.postAttentionNorm(), c.rmsNormEps());
        NDArray gate = linear(m, w.gate(), null);
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(linear(m, w.up(), null));
        return hidden.add(linear(act, w.down(), null));
    }

    /**
     * A projection or the LM head, {@code x W^T (+ bias)}: through oneDNN when {@code w} was packed at load
     * ({@link PackedLinear}), else PyTorch's linear.
     */
    private static NDArray linear(NDArray x, NDArray w, NDArray bias) {
        return PackedLinear.isPacked(w) ? PackedLinear.linear(x, w, bias) : Linear.linear(x, w, bias).head();
    }

    /**
     * Softmax over the last axis of scores in the type of weight {@code like}; half-precision scores are normalised
     * in float32 and cast back.
     */
    private static NDArray softmax(NDArray scores, NDArray like) {
        if (like.getDataType() == DataType.FLOAT32) {
            return scores.softmax(-1);
        }
        return Bfloat16.toType(scores.toType(DataType.FLOAT32, false).softmax(-1), Bfloat16.typeOf(like));
    }
}
