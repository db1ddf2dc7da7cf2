package dev.ppsd.tools.train;

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
        TrainingSettings settings,
        float earlyExitWeight,
        List<Integer> earlyExitLayers) {

    public TrainOptions {
        if (corpus.isEmpty()) {
            throw new IllegalArgumentException("--corpus: give at least one training text file");
        }
        if (settings.seqLen() > model.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq-len " + settings.seqLen() + " exceeds --max-pos "
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
}
