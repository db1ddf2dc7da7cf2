package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.ppsd.engine.runtime.Bfloat16;

/**
 * Rotary position embedding in the Hugging Face Llama convention: {@code inv_freq[i] = theta^(-2i/hd)}, {@code emb =
 * cat(freqs, freqs)}, and {@code x*cos + rotate_half(x)*sin} where {@code rotate_half(x) = cat(-x[hd/2:], x[:hd/2])}
 * per head. {@code rotate_half(x)*sin} is computed as {@code roll(x, hd/2)*signedSin}, where {@code signedSin} is
 * {@code sin} with its first half negated: each product is the same product with the sign moved, so the result is
 * bit-identical to slicing, negating and concatenating, in one op ({@code roll}) instead of four; {@link DecoderLayer}
 * applies it to q and k. The inverse frequencies follow the config's {@link RopeScaling}; the tables are computed in
 * float32 and held in the model's type (as transformers casts cos and sin to the activations' type). A Rope also
 * carries what else every forward of its config shares about positions: the sliding window {@link AttentionBatch}
 * masks with and the type of the masks.
 */
public final class Rope {
    private final NDArray cos; // [maxPos, hd]
    private final NDArray signedSin; // [maxPos, hd]: -sin in the first half, sin in the second
    private final ai.djl.Device device;
    private final DataType dataType;
    private final int slidingWindow;

    /** Float32 tables. */
    public Rope(LlamaConfig c, NDManager manager) {
        this(c, manager, DataType.FLOAT32);
    }

    /** Tables in {@code dataType} (the model's weights' type). */
    public Rope(LlamaConfig c, NDManager manager, DataType dataType) {
        int hd = c.headDim();
        int maxPos = c.maxPositionEmbeddings();
        float[] cosv = new float[maxPos * hd];
        float[] sinv = new float[maxPos * hd];
        float[] invFreq = c.ropeScaling().inverseFrequencies(c.ropeTheta(), hd);
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < hd / 2; i++) {
                float f = p * invFreq[i];
                float co = (float) Math.cos(f);
                float si = (float) Math.sin(f);
                cosv[p * hd + i] = co;
                cosv[p * hd + i + hd / 2] = co;
                sinv[p * hd + i] = -si;
                sinv[p * hd + i + hd / 2] = si;
            }
        }
        this.cos = inType(manager.create(cosv, new Shape(maxPos, hd)), dataType);
        this.signedSin = inType(manager.create(sinv, new Shape(maxPos, hd)), dataType);
        this.device = manager.getDevice();
        this.dataType = dataType;
        this.slidingWindow = c.slidingWindow();
    }

    /** {@code a} in {@code type} (itself when it already is; the float32 original is freed otherwise). */
    private static NDArray inType(NDArray a, DataType type) {
        NDArray t = Bfloat16.toType(a, type);
        if (t != a) {
            a.close();
        }
        return t;
    }

    public ai.djl.Device device() {
        return device;
    }

    /** The type of the tables, of the attention masks and of the activations they meet. */
    public DataType dataType() {
        return dataType;
    }

    /** Keys at least this far behind a query are masked (0: none). */
    public int slidingWindow() {
        return slidingWindow;
    }

    /**
     * Cos and signed sin rows for the given positions, {@code [B, T] -> [B, 1, T, hd]} each (broadcast over heads).
     */
    public NDArray[] tables(NDArray positions) {
        NDArray c = cos.get(positions).expandDims(1);
        NDArray s = signedSin.get(positions).expandDims(1);
        return new NDArray[] {c, s};
    }
}
