package dev.ppsd.engine.schedule;

import dev.ppsd.engine.model.LlamaConfig;

import java.util.Arrays;

/**
 * Layer boundaries of a k-stage pipeline: stage 0 runs {@code [0, E)} (and the exit head), the remaining
 * {@code N - E} layers are split as evenly as possible over stages 1..k-1, deeper stages taking the
 * remainder last.
 */
public record PipelineSplit(int[] bounds) {
    /** Boundaries for {@code stages} stages with the first ending at {@code exitLayer}. */
    public static PipelineSplit of(LlamaConfig c, int stages, int exitLayer) {
        return of(c.numHiddenLayers(), stages, exitLayer);
    }

    /** Boundaries for {@code n} layers in {@code stages} stages with the first ending at {@code exitLayer}. */
    public static PipelineSplit of(int n, int stages, int exitLayer) {
        if (stages < 1) {
            throw new IllegalArgumentException("stages must be >= 1 but was " + stages);
        }
        if (stages > n) {
            throw new IllegalArgumentException("cannot split " + n + " layers into " + stages + " stages");
        }
        if (stages == 1) {
            return new PipelineSplit(new int[] {0, n});
        }
        if (exitLayer < 1 || exitLayer > n - (stages - 1)) {
            throw new IllegalArgumentException("exit_layer must be in [1, " + (n - stages + 1) + "] for " + stages
                    + " stages of " + n + " layers but was " + exitLayer);
        }
        int[] b = new int[stages + 1];
        b[1] = exitLayer;
        int rest = n - exitLayer;
        int per = rest / (stages - 1);
        int extra = rest % (stages - 1);
        for (int s = 1; s < stages; s++) {
            b[s + 1] = b[s] + per + (s > stages - 1 - extra ? 1 : 0);
        }
        return new PipelineSplit(b);
    }

    public int stages() {
        return bounds.length - 1;
    }

    public int from(int stage) {
        return bounds[stage];
    }

    public int to(int stage) {
        return bounds[stage + 1];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PipelineSplit p && Arrays.equals(bounds, p.bounds);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bounds);
    }

    @Override
    public String toString() {
        return Arrays.toString(bounds);
    }
}
