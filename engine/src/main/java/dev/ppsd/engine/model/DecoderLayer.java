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
 * <p>The arithmetic is written here once as TorchScript statements, run in libtorch: {@code query_key_value}'s
 * (RMSNorm, the q/k/v projections, the heads, the q/k norms, RoPE) and {@code attention_and_mlp}'s (attention as
 * PyTorch's {@code scaled_dot_product_attention}, the o projection, the residuals, the MLP). Without a cache
 * (training, scoring) each is a function of its own, so a layer is two calls. With a KV cache, {@code cached_layers}
 * runs every layer of the call in one loop, the cache's write and read between the two halves of each layer: one call
 * for a whole stack instead of two a layer plus about ten DJL operations on the cache, each of which made, registered
 * and freed Java objects (docs/benchmarks.md has the figures). Each function is specialised at first use for a
 * config's shapes and features and for which weights are {@link PackedLinear packed} (q, k and v {@link
 * LayerWeights#qkvStacked stacked} into one); an absent feature is absent from the code. Gradients flow through the
 * uncached functions as through the operations they are made of.
 *
 * <p>Weights in bfloat16 / float16 run as transformers runs them (with its default attention, sdpa): activations in
 * that type, RMSNorm computed in float32 and cast back before the weight, attention accumulated in float32, logits
 * returned in float32 for sampling. Float32 weights take none of these casts.
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

    /** What {@code lm_head} is specialised for: float32 weights (no cast of the logits), eps, a packed head. */
    private record HeadKey(boolean wide, float eps, boolean packed) {
    }

    /** What {@code query_key_value} is specialised for: the config's shapes and features, and the packed weights. */
    private record QkvKey(boolean wide, float eps, int heads, int kvHeads, int headDim, boolean bias, boolean qkNorm,
            boolean stacked, boolean packedQ, boolean packedK, boolean packedV) {
    }

    /** What the rest of a layer ({@code attention_and_mlp}'s statements) is specialised for. */
    private record RestKey(boolean wide, float eps, int heads, int kvHeads, int headDim, boolean oBias,
            boolean packedO, boolean packedGate, boolean packedUp, boolean packedDown, boolean cached) {
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
     * Layers {@code [from, to)} of {@code layers} on {@code x [B, T, D]}. Without a cache (training, scoring) each
     * layer is two calls and gradients flow. With {@code cache} (layer {@code i} of {@code layers} is layer {@code i}
     * of the cache) the layers write their K/V for the new positions and attend over the cached prefix, all of them in
     * one call ({@link #cachedLayers}).
     */
    public static NDArray forward(LlamaConfig c, LayerWeights[] layers, int from, int to, NDArray x, AttentionBatch a,
            KvCache cache) {
        if (cache != null) {
            return cachedLayers(c, layers, from, to, x, a, cache);
        }
        NDArray h = x;
        for (int i = from; i < to; i++) {
            LayerWeights w = layers[i];
            NDList qkv = queryKeyValue(c, w, h, a.ropeTables);
            h = attentionAndMlp(c, w, h, qkv.get(0), qkv.get(1), qkv.get(2), a.mask);
        }
        return h;
    }

    /**
     * The cached layers {@code [from, to)}: one call of {@code cached_layers}, a loop over the layers that runs
     * {@code query_key_value}'s and {@code attention_and_mlp}'s statements with the KV cache's write and read between
     * them. Layers whose weights are packed differently (none in the models this runs) are separate calls.
     */
    private static NDArray cachedLayers(LlamaConfig c, LayerWeights[] layers, int from, int to, NDArray x,
            AttentionBatch a, KvCache cache) {
        if (a.cacheIndex() == null) {
            throw new IllegalArgumentException("a cached forward needs the attention batch of AttentionBatch.cached");
        }
        int t = (int) x.getShape().get(1);
        cache.checkWrite(from, to, a, t);
        NDArray h = x;
        for (int i = from; i < to; ) {
            LayerKey key = layerKey(c, layers[i]);
            int end = i + 1;
            while (end < to && layerKey(c, layers[end]).equals(key)) {
                end++;
            }
            List<NDArray> weights = new ArrayList<>();
            for (int l = i; l < end; l++) {
                weights.addAll(key.weights(layers[l]));
            }
            PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> cachedLayersFunction(key));
            NDArray[] keys = cache.keys(i, end);
            NDArray[] values = cache.values(i, end);
            // where a gathering layer copies its rows' K/V (a window reads them in place: any tensor will do)
            NDArray[] gathered = a.gathers()
                    ? cache.gatherBuffers((long) a.rows * c.numKeyValueHeads() * a.attend * c.headDim())
                    : new NDArray[] {keys[0], values[0]};
            h = TorchScripts.runWithLists(f, h, weights.toArray(new NDArray[0]), keys, values, a.ropeTables,
                    a.masks(), a.cacheIndex(), a.cacheInts(end - i), gathered);
            i = end;
        }
        cache.wrote(from, to, a, t);
        return h;
    }

    /** What {@code cached_layers} is specialised for: its layers' {@code query_key_value} and the rest. */
    private record LayerKey(QkvKey qkv, RestKey rest) {
        /** {@code w}'s tensors in the order the function reads them from its weight list. */
        List<NDArray> weights(LayerWeights w) {
            List<NDArray> in = new ArrayList<>(qkvWeights(qkv, w));
            in.addAll(restWeights(rest, w));
            return in;
        }
    }

    private static LayerKey layerKey(LlamaConfig c, LayerWeights w) {
        return new LayerKey(qkvKey(c, w), restKey(c, w, true));
    }

    private static PtSymbolBlock cachedLayersFunction(LayerKey key) {
        List<String> qkvNames = qkvWeightNames(key.qkv());
        List<String> restNames = restWeightNames(key.rest());
        int perLayer = qkvNames.size() + restNames.size();
        List<String> b = new ArrayList<>();
        // ints (AttentionBatch#cacheInts): layers, one-row write (1) or indexed, window (1) or gather, rows picked
        // back (1), then slot and start of the one row, the window's first slot, R and L, the batch rows, the runs
        // and four ints a run
        b.add("cos = rope[0]");
        b.add("sin = rope[1]");
        b.add("t = x.size(1)");
        int g = key.rest().heads() / key.rest().kvHeads();
        b.add("mg = masks[0]");
        b.add("if ints[9] > 0:");
        b.add("  " + groupedMask("masks[0]", "ints[7]", g, "t", "ints[8]"));
        // each run's mask [1, 1, 1, n, keys] for its grouped queries: [1, 1, G*n, keys]
        b.add("run_masks: List[Tensor] = []");
        b.add("for j in range(ints[10]):");
        b.add("  run_masks.append(torch.reshape(torch.expand(masks[1 + j], [1, 1, " + g + ", ints[12 + 4 * j], "
                + "ints[14 + 4 * j]]), [1, 1, " + g + " * ints[12 + 4 * j], ints[14 + 4 * j]]))");
        b.add("for i in range(ints[0]):");
        List<String> layer = new ArrayList<>();
        for (int j = 0; j < perLayer; j++) {
            String name = j < qkvNames.size() ? qkvNames.get(j) : restNames.get(j - qkvNames.size());
            layer.add(name + " = w[i * " + perLayer + " + " + j + "]");
        }
        qkvStatements(layer, key.qkv());
        // the new K/V [B, KV, T, hd] into the cache [slots, KV, maxLen, hd]: the one row by slicing, several rows at
        // [slot [B, 1], :, position [B, T]] ([B, T] selects [B, T, KV, hd])
        layer.add("if ints[1] == 1:");
        layer.add("  torch.copy_(torch.narrow(torch.narrow(kc[i], 0, ints[4], 1), 2, ints[5], t), k)");
        layer.add("  torch.copy_(torch.narrow(torch.narrow(vc[i], 0, ints[4], 1), 2, ints[5], t), v)");
        layer.add("else:");
        layer.add("  at: List[Optional[Tensor]] = [index[0], None, index[1], None]");
        layer.add("  torch.index_put_(kc[i], at, torch.transpose(k, 1, 2))");
        layer.add("  torch.index_put_(vc[i], at, torch.transpose(v, 1, 2))");
        restStatements(layer, key.rest());
        layer.add("x = out");
        for (String line : layer) {
            b.add("  " + line);
        }
        b.add("return x");
        return TorchScripts.loadFunction("cached_layers", "x: Tensor, w: List[Tensor], kc: List[Tensor], "
                + "vc: List[Tensor], rope: List[Tensor], masks: List[Tensor], index: List[Tensor], ints: List[int], "
                + "scratch: List[Tensor]",
                "Tensor", b);
    }

    /** {@code x [B, T, D]} to the rotated queries {@code [B, H, T, hd]}, keys and values {@code [B, KV, T, hd]}. */
    private static NDList queryKeyValue(LlamaConfig c, LayerWeights w, NDArray x, NDArray[] ropeTables) {
        QkvKey key = qkvKey(c, w);
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> {
            List<String> b = new ArrayList<>();
            qkvStatements(b, key);
            b.add("return (q, k, v)");
            List<String> params = new ArrayList<>(List.of("x"));
            params.addAll(qkvWeightNames(key));
            params.addAll(List.of("cos", "sin"));
            return TorchScripts.loadFunction("query_key_value", tensors(params), "Tuple[Tensor, Tensor, Tensor]", b);
        });
        List<NDArray> in = new ArrayList<>(List.of(x));
        in.addAll(qkvWeights(key, w));
        in.addAll(List.of(ropeTables));
        return TorchScripts.runTuple(f, in.toArray(new NDArray[0]));
    }

    private static QkvKey qkvKey(LlamaConfig c, LayerWeights w) {
        return new QkvKey(wide(w.q()), c.rmsNormEps(), c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(),
                w.qBias() != null, w.qNorm() != null, w.qkvStacked(), PackedLinear.isPacked(w.q()),
                PackedLinear.isPacked(w.k()), PackedLinear.isPacked(w.v()));
    }

    /** The weights {@code query_key_value} reads, in the order of {@link #qkvWeightNames}. */
    private static List<NDArray> qkvWeights(QkvKey k, LayerWeights w) {
        List<NDArray> in = new ArrayList<>(k.stacked() ? List.of(w.inputNorm(), w.q())
                : List.of(w.inputNorm(), w.q(), w.k(), w.v()));
        if (k.bias()) {
            in.addAll(List.of(w.qBias(), w.kBias(), w.vBias()));
        }
        if (k.qkNorm()) {
            in.addAll(List.of(w.qNorm(), w.kNorm()));
        }
        return in;
    }

    private static List<String> qkvWeightNames(QkvKey k) {
        List<String> names = new ArrayList<>(k.stacked() ? List.of("norm", "wqkv") : List.of("norm", "wq", "wk", "wv"));
        if (k.bias()) {
            names.addAll(List.of("bq", "bk", "bv"));
        }
        if (k.qkNorm()) {
            names.addAll(List.of("qn", "kn"));
        }
        return names;
    }

    /**
     * Statements computing the rotated {@code q [B, H, T, hd]}, {@code k} and {@code v [B, KV, T, hd]} from {@code x
     * [B, T, D]}, the weights of {@link #qkvWeightNames} and the RoPE tables {@code cos} and {@code sin} (signed).
     */
    private static void qkvStatements(List<String> b, QkvKey k) {
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
        // RoPE with the tables of Rope#tables: x * cos + rotate_half(x) * sin == x * cos + roll(x, hd/2) * signed sin
        String half = "[" + k.headDim() / 2 + "], [-1]";
        b.add("q = torch.addcmul(torch.mul(q, cos), torch.roll(q, " + half + "), sin)");
        b.add("k = torch.addcmul(torch.mul(k, cos), torch.roll(k, " + half + "), sin)");
    }

    /**
     * The rest of an uncached layer: queries {@code q [B, H, T, hd]} against keys and values {@code [B, KV, T, hd]}
     * under the additive {@code mask [B or 1, 1, 1, T, T]}, then {@code h = x + o(attn)} and {@code h + mlp(h)}:
     * {@code [B, T, D]}.
     */
    private static NDArray attentionAndMlp(LlamaConfig c, LayerWeights w, NDArray x, NDArray q, NDArray k, NDArray v,
            NDArray mask) {
        RestKey key = restKey(c, w, false);
        PtSymbolBlock f = FUNCTIONS.computeIfAbsent(key, any -> {
            List<String> b = new ArrayList<>();
            restStatements(b, key);
            b.add("return out");
            List<String> params = new ArrayList<>(List.of("x", "q", "keys", "values", "mask"));
            params.addAll(restWeightNames(key));
            return TorchScripts.loadFunction("attention_and_mlp", tensors(params), "Tensor", b);
        });
        List<NDArray> in = new ArrayList<>(List.of(x, q, k, v, mask));
        in.addAll(restWeights(key, w));
        return TorchScripts.run(f, in.toArray(new NDArray[0]));
    }

    /** {@code cached}: the statements run inside {@code cached_layers}, which may pick attention rows back. */
    private static RestKey restKey(LlamaConfig c, LayerWeights w, boolean cached) {
        return new RestKey(wide(w.o()), c.rmsNormEps(), c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(),
                w.oBias() != null, PackedLinear.isPacked(w.o()), PackedLinear.isPacked(w.gate()),
                PackedLinear.isPacked(w.up()), PackedLinear.isPacked(w.down()), cached);
    }

    /** The weights the rest of the layer reads, in the order of {@link #restWeightNames}. */
    private static List<NDArray> restWeights(RestKey k, LayerWeights w) {
        List<NDArray> in = new ArrayList<>(List.of(w.o()));
        if (k.oBias()) {
            in.add(w.oBias());
        }
        in.addAll(List.of(w.postAttentionNorm(), w.gate(), w.up(), w.down()));
        return in;
    }

    private static List<String> restWeightNames(RestKey k) {
        List<String> names = new ArrayList<>(List.of("wo"));
        if (k.oBias()) {
            names.add("bo");
        }
        names.addAll(List.of("post_norm", "wg", "wu", "wd"));
        return names;
    }

    /**
     * Statements computing the layer's output {@code out [B, T, D]}: attention ({@link #attentionStatements} or, in
     * {@code cached_layers}, {@link #cachedAttentionStatements}), then {@code h = x + o(attn)} and {@code h +
     * mlp(h)}, with the weights of {@link #restWeightNames}.
     */
    private static void restStatements(List<String> b, RestKey k) {
        int h = k.heads();
        int hd = k.headDim();
        if (k.cached()) {
            cachedAttentionStatements(b, k);
        } else {
            attentionStatements(b, k);
        }
        b.add("bt = x.size(0)");
        b.add("t = x.size(1)");
        // [B, H, T, hd] -> [B, T, H, hd] -> [B, T, H*hd] (one reshape when T == 1: the same memory order)
        b.add("if t == 1:");
        b.add("  a = torch.reshape(a, [bt, 1, " + h * hd + "])");
        b.add("else:");
        b.add("  a = torch.reshape(torch.transpose(a, 1, 2), [bt, t, " + h * hd + "])");
        b.add("hidden = torch.add(x, " + linear("a", "wo", k.oBias() ? "bo" : null, k.packedO()) + ")");
        // MLP block: hidden + down(silu(gate(norm(hidden))) * up(norm(hidden)))
        norm(b, "m", "hidden", "post_norm", k.wide(), k.eps());
        b.add("act = torch.mul(torch.silu(" + linear("m", "wg", null, k.packedGate()) + "), "
                + linear("m", "wu", null, k.packedUp()) + ")");
        b.add("out = torch.add(hidden, " + linear("act", "wd", null, k.packedDown()) + ")");
    }

    /**
     * {@code a [B, H, T, hd]}: queries {@code q [B, H, T, hd]} against {@code keys} and {@code values [B, KV, L, hd]}
     * under the additive {@code mask [B or 1, 1, 1, T, L]}. Grouped-query attention without copying K/V: query head
     * j uses kv head j / G, so the G query heads of a kv head are G*T query rows against the same keys (batch dims
     * match exactly: no broadcast copy): {@code [B, KV, G*T, hd]} under the mask {@code [B, 1, G*T, L]}.
     */
    private static void attentionStatements(List<String> b, RestKey k) {
        b.add(groupedMask("mask", "keys.size(0)", k.heads() / k.kvHeads(), "q.size(2)", "keys.size(2)"));
        b.add("a = " + groupedAttention(k, "q", "keys", "values", "mg", "keys.size(0)", "q.size(2)"));
    }

    /**
     * {@code a} in {@code cached_layers} (the batch's new K/V already in the caches {@code kc[i]}, {@code vc[i]}).
     * The batch rows (every row, or a flat batch's single tokens: the first {@code ints[9]}) attend over the cached
     * prefix {@code [R, KV, L, hd]} of their attention rows: the window of slots in place, or their slots gathered into
     * the cache's gather buffers ({@link KvCache#gatherBuffers}); their queries are scattered into the attention rows
     * and the outputs picked back when {@code ints[3] == 1}. Each run of a flat batch (a prompt's tokens, a row each:
     * {@code [n, H, 1, hd]}) attends as one sequence {@code [1, H, n, hd]} over its slot in place. Their outputs,
     * concatenated in row order, are {@code a}.
     */
    private static void cachedAttentionStatements(List<String> b, RestKey k) {
        int h = k.heads();
        int kvh = k.kvHeads();
        int hd = k.headDim();
        String gathered = "[ints[7], " + kvh + ", ints[8], " + hd + "]";
        String size = "ints[7] * " + kvh * hd + " * ints[8]";
        b.add("parts: List[Tensor] = []");
        b.add("if ints[9] > 0:");
        b.add("  qb = q");
        b.add("  if ints[10] > 0:");
        b.add("    qb = torch.narrow(q, 0, 0, ints[9])");
        b.add("  if ints[2] == 1:");
        b.add("    keys = torch.narrow(torch.narrow(kc[i], 0, ints[6], ints[7]), 2, 0, ints[8])");
        b.add("    values = torch.narrow(torch.narrow(vc[i], 0, ints[6], ints[7]), 2, 0, ints[8])");
        b.add("  else:");
        b.add("    keys = torch.index_select(torch.narrow(kc[i], 2, 0, ints[8]), 0, index[3], out=torch.reshape("
                + "torch.narrow(scratch[0], 0, 0, " + size + "), " + gathered + "))");
        b.add("    values = torch.index_select(torch.narrow(vc[i], 2, 0, ints[8]), 0, index[3], out=torch.reshape("
                + "torch.narrow(scratch[1], 0, 0, " + size + "), " + gathered + "))");
        // (unused window rows stay zero: their output is dropped)
        b.add("  if ints[3] == 1:");
        b.add("    qb = torch.index_copy(torch.new_zeros(qb, [ints[7], qb.size(1), t, qb.size(3)]), 0, index[2], qb)");
        b.add("  ab = " + groupedAttention(k, "qb", "keys", "values", "mg", "ints[7]", "t"));
        b.add("  if ints[3] == 1:");
        b.add("    ab = torch.index_select(ab, 0, index[2])");
        b.add("  parts.append(ab)");
        b.add("for j in range(ints[10]):");
        b.add("  run_rows = ints[12 + 4 * j]");
        b.add("  run_keys = ints[14 + 4 * j]");
        b.add("  run_q = torch.transpose(torch.reshape(torch.narrow(q, 0, ints[11 + 4 * j], run_rows), [run_rows, " + h
                + ", " + hd + "]), 0, 1)");
        b.add("  run_k = torch.narrow(torch.narrow(kc[i], 0, ints[13 + 4 * j], 1), 2, 0, run_keys)");
        b.add("  run_v = torch.narrow(torch.narrow(vc[i], 0, ints[13 + 4 * j], 1), 2, 0, run_keys)");
        b.add("  run_a = " + groupedAttention(k, "run_q", "run_k", "run_v", "run_masks[j]", "1", "run_rows"));
        b.add("  parts.append(torch.reshape(torch.transpose(torch.reshape(run_a, [" + h + ", run_rows, " + hd
                + "]), 0, 1), [run_rows, " + h + ", 1, " + hd + "]))");
        b.add("if len(parts) == 1:");
        b.add("  a = parts[0]");
        b.add("else:");
        b.add("  a = torch.cat(parts, 0)");
    }

    /**
     * PyTorch's {@code scaled_dot_product_attention} of the queries {@code q} ({@code rows} rows of {@code [H, t,
     * hd]}, any layout) grouped as {@code [rows, KV, G*t, hd]} against {@code keys} and {@code values} under the
     * grouped mask {@code mg}: {@code [rows, H, t, hd]}.
     */
    private static String groupedAttention(RestKey k, String q, String keys, String values, String mg, String rows,
            String t) {
        int kvh = k.kvHeads();
        int g = k.heads() / kvh;
        int hd = k.headDim();
        return "torch.reshape(torch.scaled_dot_product_attention(torch.reshape(" + q + ", [" + rows + ", " + kvh + ", "
                + g + " * " + t + ", " + hd + "]), " + keys + ", " + values + ", attn_mask=" + mg + ", scale="
                + (1.0f / (float) Math.sqrt(hd)) + "), [" + rows + ", " + k.heads() + ", " + t + ", " + hd + "])";
    }

    /**
     * {@code mg = } the additive {@code mask [R, 1, 1, T, L]} for the grouped queries {@code [R, KV, G*T, hd]} of
     * attention: {@code [R, 1, G*T, L]}.
     */
    private static String groupedMask(String mask, String r, int g, String t, String l) {
        return "mg = torch.reshape(torch.expand(" + mask + ", [" + r + ", 1, " + g + ", " + t + ", " + l + "]), [" + r
                + ", 1, " + g + " * " + t + ", " + l + "])";
    }

    /**
     * Lines computing {@code dst = rmsNorm(x, w)} as transformers' LlamaRMSNorm does: for a half-precision {@code x}
     * normalised in float32 and cast back to its type before the weight. (PyTorch's {@code rms_norm} on a bfloat16
     * {@code x} multiplies by the weight before the cast, which rounds a quarter of the outputs differently.)
     */
    private static void norm(List<String> b, String dst, String x, String w, boolean wide, float eps) {
        String size = "[" + w + ".size(0)]";
        b.add(dst + " = " + (wide ? "torch.rms_norm(" + x + ", " + size + ", " + w + ", " + eps + ")"
                : "torch.mul(torch.to(torch.rms_norm(torch.to(" + x + ", " + FLOAT32 + "), " + size + ", None, " + eps
                        + "), " + x + ".dtype), " + w + ")"));
    }

    /** The parameter list of a function of the tensors {@code names}: {@code "a: Tensor, b: Tensor"}. */
    private static String tensors(List<String> names) {
        return String.join(": Tensor, ", names) + ": Tensor";
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
