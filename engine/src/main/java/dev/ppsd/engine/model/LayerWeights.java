package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.runtime.PackedLinear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of one decoder layer in Hugging Face layout ({@code [out, in]} projections). Shapes: norms
 * {@code [D]}; q {@code [H*hd, D]}; k, v {@code [KV*hd, D]}; o {@code [D, H*hd]}; gate, up {@code [I, D]};
 * down {@code [D, I]}. The family's optional tensors are null when its config has none: q/k/v biases
 * {@code [H*hd]}, {@code [KV*hd]}, {@code [KV*hd]} (Qwen2, {@code attention_bias}), the o bias {@code [D]}
 * ({@code attention_bias} of Llama / Qwen3), and the per-head q/k RMSNorm weights {@code [hd]} (Qwen3).
 *
 * <p>A layer {@link #packed()} for inference may hold q, k and v stacked into one packed weight {@code [(H + 2KV)
 * hd, D]} in {@code q}, with {@code k} and {@code v} null ({@link #qkvStacked()}); {@link #map}, {@link #named} and
 * {@link #copyTo} see them as three plain weights again.
 */
public record LayerWeights(
        NDArray inputNorm,
        NDArray q,
        NDArray k,
        NDArray v,
        NDArray o,
        NDArray postAttentionNorm,
        NDArray gate,
        NDArray up,
        NDArray down,
        NDArray qBias,
        NDArray kBias,
        NDArray vBias,
        NDArray oBias,
        NDArray qNorm,
        NDArray kNorm) {

    /** HF tensor-name suffixes of the nine tensors every layer has, in record order. */
    public static final List<String> NAMES = List.of(
            "input_layernorm.weight",
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
            "self_attn.o_proj.weight",
            "post_attention_layernorm.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight");

    /** HF tensor-name suffixes of the optional tensors, in record order after {@link #NAMES}. */
    public static final List<String> OPTIONAL_NAMES = List.of(
            "self_attn.q_proj.bias",
            "self_attn.k_proj.bias",
            "self_attn.v_proj.bias",
            "self_attn.o_proj.bias",
            "self_attn.q_norm.weight",
            "self_attn.k_norm.weight");

    /** A plain Llama layer (no biases, no q/k norm). */
    public LayerWeights(NDArray inputNorm, NDArray q, NDArray k, NDArray v, NDArray o, NDArray postAttentionNorm,
            NDArray gate, NDArray up, NDArray down) {
        this(inputNorm, q, k, v, o, postAttentionNorm, gate, up, down, null, null, null, null, null, null);
    }

    /**
     * Every tensor this layer has by HF name: {@code prefix + "layers." + i + "." + suffix} (a packed projection as
     * a plain copy).
     */
    public Map<String, NDArray> named(String prefix, int i) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        List<NDArray> t = unstacked().slots();
        for (int j = 0; j < t.size(); j++) {
            if (t.get(j) != null) {
                String suffix = j < NAMES.size() ? NAMES.get(j) : OPTIONAL_NAMES.get(j - NAMES.size());
                out.put(LlamaWeights.layerName(prefix, i, suffix), PackedLinear.dense(t.get(j)));
            }
        }
        return out;
    }

    /** The record's tensors in {@link #NAMES} then {@link #OPTIONAL_NAMES} order, absent ones null. */
    private List<NDArray> slots() {
        return Arrays.asList(inputNorm, q, k, v, o, postAttentionNorm, gate, up, down, qBias, kBias, vBias, oBias,
                qNorm, kNorm);
    }

    /** The HF suffixes of the tensors a layer of config {@code c} has: {@link #NAMES}, then the family's extras. */
    public static List<String> names(LlamaConfig c) {
        List<String> out = new ArrayList<>(NAMES);
        boolean[] has = optional(c);
        for (int j = 0; j < has.length; j++) {
            if (has[j]) {
                out.add(OPTIONAL_NAMES.get(j));
            }
        }
        return out;
    }

    /** The expected shape of each tensor in {@link #names(LlamaConfig)} order, from the config. */
    public static long[][] shapes(LlamaConfig c) {
        long d = c.hiddenSize();
        long hd = c.headDim();
        long qd = c.numAttentionHeads() * hd;
        long kvd = c.numKeyValueHeads() * hd;
        long i = c.intermediateSize();
        long[][] all = {{d}, {qd, d}, {kvd, d}, {kvd, d}, {d, qd}, {d}, {i, d}, {i, d}, {d, i},
            {qd}, {kvd}, {kvd}, {d}, {hd}, {hd}};
        List<long[]> out = new ArrayList<>(Arrays.asList(all).subList(0, NAMES.size()));
        boolean[] has = optional(c);
        for (int j = 0; j < has.length; j++) {
            if (has[j]) {
                out.add(all[NAMES.size() + j]);
            }
        }
        return out.toArray(new long[0][]);
    }

    /** Which of {@link #OPTIONAL_NAMES} a layer of {@code c} has. */
    private static boolean[] optional(LlamaConfig c) {
        return new boolean[] {c.qkvBias(), c.qkvBias(), c.qkvBias(), c.oBias(), c.qkNorm(), c.qkNorm()};
    }

    /** Builds the record from tensors in {@link #names(LlamaConfig)} order for {@code c}. */
    public static LayerWeights of(LlamaConfig c, List<NDArray> t) {
        if (t.size() != names(c).size()) {
            throw new IllegalArgumentException("a layer of " + c.family().architecture() + " has " + names(c).size()
                    + " tensors but " + t.size() + " were given");
        }
        NDArray[] r = new NDArray[NAMES.size() + OPTIONAL_NAMES.size()];
        for (int j = 0; j < NAMES.size(); j++) {
            r[j] = t.get(j);
        }
        boolean[] has = optional(c);
        int next = NAMES.size();
        for (int j = 0; j < has.length; j++) {
            if (has[j]) {
                r[NAMES.size() + j] = t.get(next++);
            }
        }
        return new LayerWeights(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                r[13], r[14]);
    }

    /** A copy of every tensor on {@code device}, owned by {@code manager} (packed projections as plain ones). */
    public LayerWeights copyTo(NDManager manager, Device device) {
        return map(a -> {
            NDArray plain = PackedLinear.dense(a);
            NDArray copy = dev.ppsd.engine.runtime.Bfloat16.toDevice(plain, device, manager);
            if (plain != a) {
                plain.close();
            }
            return copy;
        });
    }

    /**
     * This layer with its seven projections packed for oneDNN ({@link PackedLinear}: on a CPU, float32 or bfloat16;
     * the plain tensors are closed); the norms and biases stay as they are. Unchanged when they cannot be packed.
     */
    public LayerWeights packed() {
        NDArray qkv = qkvStacked() ? null : PackedLinear.packStacked(q, k, v);
        return qkv != null
                ? new LayerWeights(inputNorm, qkv, null, null, PackedLinear.pack(o), postAttentionNorm,
                        PackedLinear.pack(gate), PackedLinear.pack(up), PackedLinear.pack(down), qBias, kBias, vBias,
                        oBias, qNorm, kNorm)
                : new LayerWeights(inputNorm, PackedLinear.pack(q), PackedLinear.pack(k), PackedLinear.pack(v),
                        PackedLinear.pack(o), postAttentionNorm, PackedLinear.pack(gate), PackedLinear.pack(up),
                        PackedLinear.pack(down), qBias, kBias, vBias, oBias, qNorm, kNorm);
    }

    /** Whether {@code q} holds q, k and v stacked and packed ({@link PackedLinear#packStacked}); k and v are null. */
    public boolean qkvStacked() {
        return PackedLinear.isStacked(q);
    }

    /** The projections this layer holds (q, k, v, o, gate, up, down; q alone when q/k/v are stacked). */
    public List<NDArray> projections() {
        return qkvStacked() ? List.of(q, o, gate, up, down) : List.of(q, k, v, o, gate, up, down);
    }

    /**
     * This layer with {@code f} applied to each tensor it has (nulls stay null); stacked q/k/v are given to {@code f}
     * as three plain weights (temporary copies, closed afterwards unless {@code f} returns them).
     */
    public LayerWeights map(java.util.function.UnaryOperator<NDArray> f) {
        LayerWeights u = unstacked();
        java.util.function.UnaryOperator<NDArray> g = a -> a == null ? null : f.apply(a);
        LayerWeights out = new LayerWeights(g.apply(u.inputNorm), g.apply(u.q), g.apply(u.k), g.apply(u.v),
                g.apply(u.o), g.apply(u.postAttentionNorm), g.apply(u.gate), g.apply(u.up), g.apply(u.down),
                g.apply(u.qBias), g.apply(u.kBias), g.apply(u.vBias), g.apply(u.oBias), g.apply(u.qNorm),
                g.apply(u.kNorm));
        if (u != this) {
            List.of(u.q, u.k, u.v).stream().filter(a -> a != out.q && a != out.k && a != out.v)
                    .forEach(NDArray::close);
        }
        return out;
    }

    /** This layer, or with stacked q/k/v as three plain copies ({@link PackedLinear#unstack}). */
    private LayerWeights unstacked() {
        if (!qkvStacked()) {
            return this;
        }
        List<NDArray> qkv = PackedLinear.unstack(q);
        return new LayerWeights(inputNorm, qkv.get(0), qkv.get(1), qkv.get(2), o, postAttentionNorm, gate, up, down,
                qBias, kBias, vBias, oBias, qNorm, kNorm);
    }
}
