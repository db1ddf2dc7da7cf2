package dev.ppsd.tools.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import dev.ppsd.engine.model.LlamaConfig;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The optimisation loop shared by {@code train} and {@code distill-exit-head}: per step a batch from the
 * token stream, forward + backward inside a {@link GradientCollector} and an {@link NDScope}, AdamW with
 * global-norm clipping on the cosine schedule, a progress line and a CSV loss log every 10 steps, and a
 * resumable checkpoint every {@code checkpointEvery} steps and at the end (or at the time limit).
 */
final class TrainingLoop {
    /** Computes [loss to backpropagate, reported loss, optional second reported loss] for one batch. */
    interface Objective {
        NDArray[] loss(NDManager m, int[][] inputs, int[][] targets);
    }

    private TrainingLoop() {
    }

    /** Runs the loop; returns the last step reached. {@code ckptConfig} guards resuming with another shape. */
    static int run(TrainingSettings s, TokenStream data, Map<String, NDArray> params, NDManager manager,
            LlamaConfig ckptConfig, Path out, Objective objective, PrintStream log) throws IOException {
        AdamW opt = new AdamW(params, manager, s.weightDecay());
        Map<String, NDArray> all = new LinkedHashMap<>(params);
        all.putAll(opt.state());
        Path ckptDir = out.resolve("checkpoint");
        int step = 0;
        Path ckpt = Checkpoint.find(ckptDir);
        if (ckpt != null) {
            Checkpoint.checkSameShape(ckpt, ckptConfig);
            Checkpoint.restore(ckpt, all);
            step = Checkpoint.step(ckpt);
            log.printf(Locale.ROOT, "resumed from %s at step %d%n", ckpt, step);
        }
        params.values().forEach(p -> p.setRequiresGradient(true));
        Path csv = out.resolve("train-log.csv");
        Files.write(csv, logRowsUpTo(csv, step), StandardCharsets.UTF_8);
        long t0 = System.nanoTime();
        long windowStart = t0;
        int windowSteps = 0;
        int skipped = 0;
        while (step < s.steps()) {
            step++;
            float lr = s.learningRate(step);
            float[] losses;
            float gradNorm;
            try (NDScope ignored = new NDScope()) {
                int[][][] io = Losses.split(data.batch(s.seed(), step, s.batch(), s.seqLen()));
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray[] l = objective.loss(manager, io[0], io[1]);
                    gc.backward(l[0]);
                    losses = new float[] {l[1].getFloat(), l.length < 3 || l[2] == null ? Float.NaN : l[2].getFloat()};
                }
                gradNorm = opt.step(params, step, lr, s.clip());
            }
            if (!Float.isFinite(gradNorm) || !Float.isFinite(losses[0])) {
                skipped++;
                log.printf(Locale.ROOT, "step %d: non-finite loss or gradient (loss %s, |g| %s): update skipped"
                        + " (%d so far)%n", step, losses[0], gradNorm, skipped);
                if (skipped > 20) {
                    throw new IllegalStateException("training diverged: " + skipped
                            + " non-finite steps; resume from the last checkpoint with a lower --lr");
                }
            }
            windowSteps++;
            double elapsed = (System.nanoTime() - t0) / 1e9;
            boolean last = step == s.steps() || elapsed / 60 >= s.timeLimitMinutes();
            if (step % 10 == 0 || last) {
                double tps = windowSteps * (double) s.batch() * s.seqLen() / ((System.nanoTime() - windowStart) / 1e9);
                Files.writeString(csv, String.format(Locale.ROOT, "%d,%.4f,%.4f,%.6f,%.3f,%.0f,%.1f%n", step,
                        losses[0], losses[1], lr, gradNorm, tps, elapsed), StandardCharsets.UTF_8,
                        StandardOpenOption.APPEND);
                log.printf(Locale.ROOT, "step %d/%d  loss %.4f  loss2 %.4f  lr %.2e  |g| %.2f  %.0f tok/s  %.0fs%n",
                        step, s.steps(), losses[0], losses[1], lr, gradNorm, tps, elapsed);
                windowStart = System.nanoTime();
                windowSteps = 0;
            }
            if (step % s.checkpointEvery() == 0 || last) {
                Checkpoint.save(ckptDir, step, ckptConfig, all);
            }
            if (last) {
                break;
            }
        }
        return step;
    }

    /**
     * The loss log's header and its rows of steps {@code <= step}: a run resumed from an older checkpoint redoes
     * (and re-logs) the steps after it, and a run without a checkpoint starts a new log, so no step is logged
     * twice. Unparseable rows (a line cut off by a kill) are dropped.
     */
    private static List<String> logRowsUpTo(Path csv, int step) throws IOException {
        List<String> rows = new ArrayList<>();
        rows.add("step,loss,loss2,lr,grad_norm,tokens_per_s,elapsed_s");
        if (Files.exists(csv)) {
            for (String line : Files.readAllLines(csv, StandardCharsets.UTF_8)) {
                String[] f = line.split(",");
                try {
                    if (f.length == 7 && Integer.parseInt(f[0]) <= step) {
                        rows.add(line);
                    }
                } catch (NumberFormatException e) {
                    // header or a truncated row
                }
            }
        }
        return rows;
    }
}
