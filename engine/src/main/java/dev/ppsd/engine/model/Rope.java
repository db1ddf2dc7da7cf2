package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding in the Hugging Face Llama convention: {@code inv_freq[i] = theta^(-2i/hd)},
 * {@code emb = cat(freqs, freqs)}, and {@code x*cos + rotate_half(x)*sin} where
 * {@code rotate_half(x) = cat(-x[hd/2:], x[:hd/2])} per head. {@code rotate_half} is one matmul with a
 * signed permutation matrix (each output is one input times ±1 plus exact zeros, so the result is bit-identical
 * to slicing, negating and concatenating, in one op instead of four).
 */
public final class Rope {
    private final NDArray cos; // [maxPos, hd]
    private final NDArray sin; // [maxPos, hd]
    private final NDArray rotateHalf; // [hd, hd]: x @ rotateHalf == rotate_half(x)
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
        float[] rot = new float[hd * hd]; // row = input index, column = output index
        for (int i = 0; i < hd / 2; i++) {
            rot[(i + hd / 2) * hd + i] = -1; // out[i] = -x[i + hd/2]
            rot[i * hd + i + hd / 2] = 1; // out[i + hd/2] = x[i]
        }
        this.rotateHalf = manager.create(rot, new Shape(hd, hd));
        this.device = manager.getDevice();
    }

    public ai.djl.Device device() {
        return device;
    }

    /**
     * Cos and sin rows for the given positions, {@code [B, T] -> [B, 1, T, hd]} each (broadcast over heads), and
     * the {@code rotate_half} matrix {@code [hd, hd]}.
     */
    public NDArray[] tables(NDArray positions) {
        NDArray c = cos.get(positions).expandDims(1);
        NDArray s = sin.get(positions).expandDims(1);
        return new NDArray[] {c, s, rotateHalf};
    }

    /** Applies the rotation to {@code x [B, heads, T, hd]} with tables from {@link #tables}. */
    public static NDArray rotate(NDArray x, NDArray[] tables) {
        return x.mul(tables[0]).add(x.matMul(tables[2]).mul(tables[1]));
    }
}
