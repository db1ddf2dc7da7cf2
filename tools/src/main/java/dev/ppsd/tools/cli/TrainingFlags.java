package dev.ppsd.tools.cli;

import dev.ppsd.tools.train.TrainingSettings;
import picocli.CommandLine.Option;

/**
 * The optimisation flags {@code train}, {@code distill-exit-head} and {@code distill-spd-head} share (a picocli
 * mixin); each command gives its own defaults to {@link #settings}.
 */
final class TrainingFlags {
    @Option(names = "--steps", paramLabel = "N", description = "optimiser steps")
    private Integer steps;
    @Option(names = "--batch", paramLabel = "B", defaultValue = "16", description = "windows per step (default ${DEFAULT-VALUE})")
    private int batch;
    @Option(names = "--seq-len", paramLabel = "T", defaultValue = "128",
            description = "tokens per window (default ${DEFAULT-VALUE})")
    private int seqLen;
    @Option(names = "--lr", paramLabel = "LR", description = "peak learning rate")
    private Float lr;
    @Option(names = "--min-lr", paramLabel = "LR", description = "final learning rate of the cosine schedule")
    private Float minLr;
    @Option(names = "--warmup", paramLabel = "N", description = "linear warm-up steps")
    private Integer warmup;
    @Option(names = "--weight-decay", paramLabel = "W", description = "AdamW weight decay")
    private Float weightDecay;
    @Option(names = "--clip", paramLabel = "C", defaultValue = "1.0",
            description = "global gradient-norm clip (default ${DEFAULT-VALUE})")
    private float clip;
    @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "random seed (default ${DEFAULT-VALUE})")
    private long seed;
    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "100",
            description = "steps between checkpoints (default ${DEFAULT-VALUE})")
    private int checkpointEvery;
    @Option(names = "--time-limit-min", paramLabel = "MIN", defaultValue = "1e9",
            description = "stop, checkpoint and write the result after this many minutes")
    private double timeLimitMinutes;

    /** The settings, with the command's defaults for the flags not given. */
    TrainingSettings settings(int defaultSteps, float defaultLr, float defaultMinLr, int defaultWarmup,
            float defaultWeightDecay) {
        return new TrainingSettings(steps != null ? steps : defaultSteps, batch, seqLen, lr != null ? lr : defaultLr,
                minLr != null ? minLr : defaultMinLr, warmup != null ? warmup : defaultWarmup,
                weightDecay != null ? weightDecay : defaultWeightDecay, clip, seed, checkpointEvery, timeLimitMinutes);
    }
}
