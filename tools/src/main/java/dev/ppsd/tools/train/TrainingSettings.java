package dev.ppsd.tools.train;

/**
 * Optimisation and bookkeeping settings of a training run ({@code train} and {@code distill-exit-head}):
 * AdamW with a cosine schedule and linear warm-up, global-norm clipping, checkpoint interval and an optional
 * wall-time limit (the run checkpoints and writes its result when it is reached).
 */
public record TrainingSettings(int steps, int batch, int seqLen, float lr, float minLr, int warmup,
        float weightDecay, float clip, long seed, int checkpointEvery, double timeLimitMinutes) {

    public TrainingSettings {
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1 but was " + steps);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("--batch must be >= 1 but was " + batch);
        }
        if (seqLen < 2) {
            throw new IllegalArgumentException("--seq-len must be >= 2 but was " + seqLen);
        }
        if (!(lr > 0) || minLr < 0 || minLr > lr) {
            throw new IllegalArgumentException("--lr must be > 0 and --min-lr in [0, lr] but were " + lr + ", " + minLr);
        }
        if (checkpointEvery < 1) {
            throw new IllegalArgumentException("--checkpoint-every must be >= 1 but was " + checkpointEvery);
        }
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
