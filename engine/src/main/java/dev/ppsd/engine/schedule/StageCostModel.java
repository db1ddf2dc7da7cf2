package dev.ppsd.engine.schedule;

import dev.ppsd.engine.model.LlamaConfig;

/**
 * Relative decode cost of the pieces of a pipeline, in weight elements read per token: at decode time a
 * small-batch step streams every weight once, so a decoder layer costs its parameter count and the LM head
 * {@code V·D}. Deterministic (no timing), so plans built on it are the same on every run and every executor,
 * which keeps sampled text independent of the machine's mood. On ppsd-mini it predicts an LM head at 1.4
 * layers; measured on CPU: 1.1.
 */
public record StageCostModel(double layer, double lmHead) {
    public static StageCostModel of(LlamaConfig c) {
        long d = c.hiddenSize();
        long q = (long) c.numAttentionHeads() * c.headDim();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        double attention = d * q + 2.0 * d * kv + q * d;
        double mlp = 3.0 * d * c.intermediateSize();
        return new StageCostModel(attention + mlp, (double) c.vocabSize() * d);
    }

    /** Cost of the drafter on top of stage 0's layers: the LM head, plus the trained head's own layer. */
    public double drafter(boolean trained) {
        return lmHead + (trained ? layer : 0);
    }

    /** Cost of the SPD head per draft: its own weights (projections, layers; {@code own}) and the LM head. */
    public double spdHead(long own) {
        return own + lmHead;
    }

    /** Cost of one token through all N layers and the LM head (plain AR). */
    public double ar(int layers) {
        return layers * layer + lmHead;
    }

    /**
     * Layer bounds for {@code k} stages with stage 0 = {@code [0, exitLayer)} and the rest of the layers split
     * over stages 1..k-1 so that the most expensive stage is as cheap as possible (the last stage carries the
     * LM head).
     */
    public PipelineSplit split(int layers, int k, int exitLayer) {
        PipelineSplit even = PipelineSplit.of(layers, k, exitLayer); // validates
        if (k <= 2) {
            return even;
        }
        int rest = layers - exitLayer;
        int parts = k - 1;
        // best[p][j]: min over splits of the first j remaining layers into p non-empty parts of the max part
        // cost, the last part being the final stage only when p == parts and j == rest
        double[][] best = new double[parts + 1][rest + 1];
        int[][] cut = new int[parts + 1][rest + 1];
        for (double[] row : best) {
            java.util.Arrays.fill(row, Double.POSITIVE_INFINITY);
        }
        best[0][0] = 0;
        for (int p = 1; p <= parts; p++) {
            for (int j = p; j <= rest - (parts - p); j++) {
                for (int i = p - 1; i < j; i++) {
                    double part = (j - i) * layer + (p == parts ? lmHead : 0);
                    double v = Math.max(best[p - 1][i], part);
                    if (v < best[p][j] - 1e-9) {
                        best[p][j] = v;
                        cut[p][j] = i;
                    }
                }
            }
        }
        int[] b = new int[k + 1];
        b[1] = exitLayer;
        b[k] = layers;
        int j = rest;
        for (int p = parts; p >= 1; p--) {
            b[p] = exitLayer + cut[p][j];
            j = cut[p][j];
        }
        b[1] = exitLayer;
        return new PipelineSplit(b);
    }

    /** The most expensive stage of {@code split} with a drafter of cost {@code drafter} in stage 0. */
    public double maxStage(PipelineSplit split, double drafter) {
        return maxStage(split, drafter, 0);
    }

    /** The most expensive stage of {@code split} with a drafter of cost {@code drafter} on stage {@code host}. */
    public double maxStage(PipelineSplit split, double drafter, int host) {
        double max = 0;
        int k = split.stages();
        for (int s = 0; s < k; s++) {
            double c = (split.to(s) - split.from(s)) * layer;
            if (s == host) {
                c += drafter;
            }
            if (s == k - 1) {
                c += lmHead;
            }
            max = Math.max(max, c);
        }
        return max;
    }

    /** Where a drafter that needs nothing of its cycle (the SPD head) runs: the split, its host stage, the max stage. */
    public record Placement(PipelineSplit split, int host, double maxStage) {
    }

    /**
     * The split of {@code layers} over {@code k} stages and the host stage of a drafter of cost {@code drafter} that
     * may run on any stage, with the cheapest most expensive stage, among the splits {@code allowed}. The first
     * stage's end is searched, the rest split by {@link #split}; at equal cost the later host wins (after a flush the
     * later stages idle: the drafter costs nothing there).
     */
    public Placement placement(int layers, int k, double drafter, java.util.function.Predicate<PipelineSplit> allowed) {
        Placement best = null;
        for (int e = 1; e <= layers - k + 1; e++) {
            PipelineSplit split = split(layers, k, e);
            if (!allowed.test(split)) {
                continue;
            }
            for (int host = k - 1; host >= 0; host--) {
                double c = maxStage(split, drafter, host);
                if (best == null || c < best.maxStage() - 1e-9) {
                    best = new Placement(split, host, c);
                }
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("no split of " + layers + " layers into " + k + " stages fits");
        }
        return best;
    }

    /** Predicted cost per committed token of PPSD: max stage cost times (α + k(1-α)) cycles per token. */
    public double ppsdPerToken(PipelineSplit split, double drafter, double alpha) {
        int k = split.stages();
        return maxStage(split, drafter) * (alpha + k * (1 - alpha));
    }
}
