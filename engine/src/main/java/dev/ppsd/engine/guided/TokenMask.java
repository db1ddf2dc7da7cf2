package dev.ppsd.engine.guided;

import java.util.Arrays;

/**
 * The tokens a constraint allows at one automaton state: a bitset over token ids, and the ids themselves when they
 * are few (then masking writes the whole row once and puts the allowed logits back). Immutable; shared by every
 * sequence of the engine that reaches the state.
 */
final class TokenMask {
    /** At most this many allowed ids are also kept as a list (the sparse path of {@link #apply}). */
    private static final int SPARSE = 1024;

    /** Per-thread room for the logits kept aside while a row is filled (no allocation per position). */
    private static final ThreadLocal<float[]> KEEP = ThreadLocal.withInitial(() -> new float[1024]);

    private final long[] bits;
    private final int[] ids;
    private final int count;

    TokenMask(long[] bits) {
        this.bits = bits;
        int n = 0;
        for (long w : bits) {
            n += Long.bitCount(w);
        }
        this.count = n;
        if (n <= SPARSE) {
            ids = new int[n];
            int k = 0;
            for (int w = 0; w < bits.length; w++) {
                for (long x = bits[w]; x != 0; x &= x - 1) {
                    ids[k++] = w * 64 + Long.numberOfTrailingZeros(x);
                }
            }
        } else {
            ids = null;
        }
    }

    /** Allowed tokens. */
    int count() {
        return count;
    }

    boolean allows(int id) {
        return id >= 0 && (id >>> 6) < bits.length && (bits[id >>> 6] & (1L << id)) != 0;
    }

    private static float[] keep(int n) {
        float[] k = KEEP.get();
        if (k.length < n) {
            k = new float[Math.max(n, 2 * k.length)];
            KEEP.set(k);
        }
        return k;
    }

    /**
     * Sets every logit of a token not allowed to -infinity (ids beyond the mask are never allowed). Few allowed
     * tokens: their logits are kept aside, the row filled, and they are put back; many: the others are visited.
     */
    void apply(float[] logits) {
        if (ids != null) {
            float[] keep = keep(ids.length);
            for (int j = 0; j < ids.length; j++) {
                keep[j] = ids[j] < logits.length ? logits[ids[j]] : 0f;
            }
            Arrays.fill(logits, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < ids.length; j++) {
                if (ids[j] < logits.length) {
                    logits[ids[j]] = keep[j];
                }
            }
            return;
        }
        int words = Math.min(bits.length, (logits.length + 63) >>> 6);
        if (2L * count < logits.length) {
            // mostly masked: keep the allowed ones aside, fill the row (one vectorised pass), put them back
            float[] keep = keep(count);
            int k = 0;
            for (int w = 0; w < words; w++) {
                for (long x = bits[w]; x != 0; x &= x - 1) {
                    int i = (w << 6) + Long.numberOfTrailingZeros(x);
                    keep[k++] = i < logits.length ? logits[i] : 0f;
                }
            }
            Arrays.fill(logits, Float.NEGATIVE_INFINITY);
            k = 0;
            for (int w = 0; w < words; w++) {
                for (long x = bits[w]; x != 0; x &= x - 1) {
                    int i = (w << 6) + Long.numberOfTrailingZeros(x);
                    if (i < logits.length) {
                        logits[i] = keep[k];
                    }
                    k++;
                }
            }
            return;
        }
        for (int w = 0; w < words; w++) {
            int base = w << 6;
            for (long x = ~bits[w]; x != 0; x &= x - 1) {
                int i = base + Long.numberOfTrailingZeros(x);
                if (i >= logits.length) {
                    break;
                }
                logits[i] = Float.NEGATIVE_INFINITY;
            }
        }
        for (int i = bits.length << 6; i < logits.length; i++) {
            logits[i] = Float.NEGATIVE_INFINITY;
        }
    }
}
