package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding in the Hugging Face Llama convention: {@code inv_freq[i] = theta^(-2i/hd)},
 * {@code emb = cat(freqs, freqs)}, and {@code x*cos + rotate_half(x)*sin} where
 * {@code rotate_half(x) = cat(-x[hd/2:], x[:hd/2])} per head.
 */
public final class Rope {
    private final NDArray cos; // [maxPos, hd]
    private final NDArray sin; // [maxPos, hd]
    private final ai.djl.Device device;

    public Rope(LlamaConfig c, NDManager manager) {
        int hd = c.headDim();
        int maxPos = c.maxPositionEmbeddings();
        float[] cosv = new float[maxPos * hd];
        float[] sinv = new float[maxPos * hd];
        float[] invFreq = new float[hd / 2];
        for (int i = 0; i < hd / 2; i++) {
            invFreq[i] = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / hd));
        }
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < hd / 2; i++) {
                float f = p * invFreq[i];
                float co = (float) Math.cos(f);
                float si = (float) Math.sin(f);
                cosv[p * hd + i] = co;
                cosv[p * hd + i + hd / 2] = co;
                sinv[p * hd + i] = si;
                sinv[p * hd + i + hd / 2] = si;
            }
        }
        this.cos = manager.create(cosv, new Shape(maxPos, hd));
        this.sin = manager.create(sinv, new Shape(maxPos, hd));
        this.device = manager.getDevice();
    }

    public ai.djl.Device device() {
        return device;
    }

    /** Cos and sin rows for the given positions: {@code [B, T] -> [B, 1, T, hd]} each (broadcast over heads). */
    public NDArray[] tables(NDArray positions) {
        NDArray c = cos.get(positions).expandDims(1);
        NDArray s = sin.get(positions).expandDims(1);
        return new NDArray[] {c, s};
    }

    /** Applies the rotation to {@code x [B, heads, T, hd]} with tables from {@link #tables}. */
    public static NDArray rotate(NDArray x, NDArray[] cosSin) {
        long half = x.getShape().get(3) / 2;
        NDArray x1 = x.get("..., :{}", half);
        NDArray x2 = x.get("..., {}:", half);
        NDArray rotated = x2.neg().concat(x1, -1); // rotate_half
        return x.mul(cosSin[0]).add(rotated.mul(cosSin[1]));
    }
}
