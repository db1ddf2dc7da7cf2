package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW (decoupled weight decay) with global-norm gradient clipping, whose moments are plain named arrays
 * so a checkpoint can save and restore them. Norm weights (1-D) get no weight decay.
 */
final class AdamW {
    private final float beta1 = 0.9f;
    private final float beta2 = 0.95f;
    private final float eps = 1e-8f;
    private final float weightDecay;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();

    AdamW(Map<String, NDArray> params, NDManager manager, float weightDecay) {
        this.weightDecay = weightDecay;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            m.put(e.getKey(), manager.zeros(e.getValue().getShape()));
            v.put(e.getKey(), manager.zeros(e.getValue().getShape()));
        }
    }

    /** Moments by name ("m." / "v." prefixed), for checkpoints. */
    Map<String, NDArray> state() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        m.forEach((k, a) -> out.put("m." + k, a));
        v.forEach((k, a) -> out.put("v." + k, a));
        return out;
    }

    /**
     * One update of every parameter from its gradient; clips the global gradient norm to {@code clip} first.
     * Returns the gradient norm before clipping; when it is not finite the update is skipped. Zeroes the
     * gradients afterwards.
     */
    float step(Map<String, NDArray> params, int step, float lr, float clip) {
        double sq = 0;
        Map<String, NDArray> grads = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray g = e.getValue().getGradient();
            grads.put(e.getKey(), g);
            sq += g.square().sum().getFloat();
        }
        float norm = (float) Math.sqrt(sq);
        if (!Float.isFinite(norm)) {
            // a non-finite gradient would poison the moments (inf * 0 = NaN): skip this update entirely
            grads.values().forEach(g -> g.set(new NDIndex("..."), 0));
            return norm;
        }
        float scale = clip > 0 && norm > clip ? clip / norm : 1f;
        float bc1 = 1f - (float) Math.pow(beta1, step);
        float bc2 = 1f - (float) Math.pow(beta2, step);
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            String name = e.getKey();
            NDArray w = e.getValue();
            NDArray g = grads.get(name).mul(scale);
            NDArray mm = m.get(name);
            NDArray vv = v.get(name);
            mm.muli(beta1).addi(g.mul(1 - beta1));
            vv.muli(beta2).addi(g.square().mul(1 - beta2));
            if (w.getShape().dimension() > 1 && weightDecay > 0) {
                w.muli(1 - lr * weightDecay);
            }
            NDArray update = mm.div(bc1).div(vv.div(bc2).sqrt().add(eps)).mul(lr);
            w.subi(update);
            NDArray grad = grads.get(name);
            grad.subi(grad); // zero in place: PyTorch accumulates gradients across backward passes
        }
        return norm;
    }
}
