package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.List;

/**
 * The weights of one Llama decoder layer in Hugging Face layout ({@code [out, in]} projections).
 * Shapes: norms {@code [D]}; q {@code [H*hd, D]}; k, v {@code [KV*hd, D]}; o {@code [D, H*hd]};
 * gate, up {@code [I, D]}; down {@code [D, I]}.
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
        NDArray down) {

    /** HF tensor-name suffixes, in the order of {@link #all()}. */
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

    /** Every tensor, in the order of {@link #NAMES}. */
    public List<NDArray> all() {
        return List.of(inputNorm, q, k, v, o, postAttentionNorm, gate, up, down);
    }

    /** The expected shape of each tensor in {@link #NAMES} order, from the config. */
    public static long[][] shapes(LlamaConfig c) {
        long d = c.hiddenSize();
        long qd = (long) c.numAttentionHeads() * c.headDim();
        long kvd = (long) c.numKeyValueHeads() * c.headDim();
        long i = c.intermediateSize();
        return new long[][] {{d}, {qd, d}, {kvd, d}, {kvd, d}, {d, qd}, {d}, {i, d}, {i, d}, {d, i}};
    }

    /** Builds the record from tensors in {@link #NAMES} order. */
    public static LayerWeights of(List<NDArray> t) {
        return new LayerWeights(t.get(0), t.get(1), t.get(2), t.get(3), t.get(4), t.get(5), t.get(6), t.get(7),
                t.get(8));
    }

    /** A copy of every tensor on {@code device}, owned by {@code manager}. */
    public LayerWeights copyTo(NDManager manager, Device device) {
        return of(all().stream().map(a -> {
            NDArray c = a.toDevice(device, true);
            c.attach(manager);
            return c;
        }).toList());
    }
}
