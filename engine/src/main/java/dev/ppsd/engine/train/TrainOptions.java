package dev.ppsd.engine.train;

import dev.ppsd.engine.model.LlamaConfig;

import java.nio.file.Path;
import java.util.List;

/**
 * Settings of {@code ppsd train}: corpus, tokenizer, output folder, model shape, optimisation schedule,
 * checkpointing and the optional LayerSkip-style early-exit loss.
 */
public record TrainOptions(
        List<Path> corpus,
        Path tokenizer,
        Path out,
        LlamaConfig model,
        int steps,
        int batch,
        int seqLen,
        float lr,
        float minLr,
        int warmup,
        float weightDecay,
        float clip,
        long seed,
        int checkpointEvery,
        float earlyExitWeight,
        List<Integer> earlyExitLayers,
        double timeLimitMinutes) {

    public TrainOptions {
        if (corpus.isEmpty()) {
            throw new IllegalArgumentException("--corpus: give at least one training text file");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1 but was " + steps);
        }
        if (batch < 1 || seqLen < 2) {
            throw new IllegalArgumentException("--batch must be >= 1 and --seq-len >= 2 but were " + batch + ", "
                    + seqLen);
        }
        if (seqLen > model.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq-len " + seqLen + " exceeds --max-pos "
                    + model.maxPositionEmbeddings());
        }
        for (int e : earlyExitLayers) {
            if (e < 1 || e >= model.numHiddenLayers()) {
                throw new IllegalArgumentException("--early-exit-layers: " + e + " must be in [1, "
                        + model.numHiddenLayers() + ")");
            }
        }
        corpus = List.copyOf(corpus);
        earlyExitLayers = List.copyOf(earlyExitLayers);
    }

    /** Cosine schedule with linear warm-up, from {@code lr} down to {@code minLr} at the last step. */
    public float learningRate(int step) {
        if (step <= warmup) {
            return lr * step / Math.max(1, warmup);
        }
        double progress = (double) (step - warmup) / Math.max(1, steps - warmup);
        return (float) (minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * Math.min(1, progress))));
    }
}
