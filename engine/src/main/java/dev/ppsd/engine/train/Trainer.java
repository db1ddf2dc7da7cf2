package dev.ppsd.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * {@code ppsd train}: trains a Llama-architecture model from scratch on the engine's own layer code
 * ({@link dev.ppsd.engine.model.DecoderLayer}, uncached) with AdamW, a cosine schedule, global-norm clipping,
 * an optional LayerSkip-style early-exit loss, resumable checkpoints and a CSV loss log. Writes the model
 * in the HF layout into the output folder.
 */
public final class Trainer {
    private Trainer() {
    }

    public static void run(TrainOptions o, PrintStream log) throws IOException {
        DjlRuntime.init();
        if (!Files.isRegularFile(o.tokenizer())) {
            throw new IllegalArgumentException(o.tokenizer() + ": tokenizer file not found (--tokenizer)");
        }
        Files.createDirectories(o.out());
        Files.copy(o.tokenizer(), o.out().resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        LlamaConfig c = o.model();
        TokenStream data;
        try (TextTokenizer tok = TextTokenizer.load(o.out())) {
            int eos = c.eosTokenIds().isEmpty() ? 1 : c.eosTokenIds().get(0);
            data = TokenStream.load(o.corpus(), tok, eos);
        }
        log.printf(Locale.ROOT, "corpus: %d tokens from %s%n", data.size(), o.corpus());

        NDManager manager = NDManager.newBaseManager();
        try (LlamaModel model = LlamaModel.of(c, manager, LlamaWeights.random(c, manager, o.seed()))) {
            Map<String, NDArray> params = model.weights().named(c.tieWordEmbeddings());
            AdamW opt = new AdamW(params, manager, o.weightDecay());
            Map<String, NDArray> all = new LinkedHashMap<>(params);
            all.putAll(opt.state());
            Path ckptDir = o.out().resolve("checkpoint");
            int start = 0;
            Path ckpt = Checkpoint.find(ckptDir);
            if (ckpt != null) {
                Checkpoint.checkSameShape(ckpt, c);
                Checkpoint.restore(ckpt, all);
                start = Checkpoint.step(ckpt);
                log.printf(Locale.ROOT, "resumed from %s at step %d%n", ckpt, start);
            }
            params.values().forEach(p -> p.setRequiresGradient(true));
            Path csv = o.out().resolve("train-log.csv");
            if (!Files.exists(csv)) {
                Files.writeString(csv, "step,loss,early_exit_loss,lr,grad_norm,tokens_per_s,elapsed_s\n");
            }
            long t0 = System.nanoTime();
            long windowStart = t0;
            int windowSteps = 0;
            int step = start;
            while (step < o.steps()) {
                step++;
                float lr = o.learningRate(step);
                float[] losses;
                float gradNorm;
                try (NDScope ignored = new NDScope()) {
                    int[][][] io = Losses.split(data.batch(o.seed(), step, o.batch(), o.seqLen()));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray[] l = loss(model, manager, io[0], io[1], o);
                        gc.backward(l[0]);
                        losses = new float[] {l[1].getFloat(), l[2] == null ? Float.NaN : l[2].getFloat()};
                    }
                    gradNorm = opt.step(params, step, lr, o.clip());
                }
                windowSteps++;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                boolean last = step == o.steps() || elapsed / 60 >= o.timeLimitMinutes();
                if (step % 10 == 0 || last) {
                    double tps = windowSteps * (double) o.batch() * o.seqLen() / ((System.nanoTime() - windowStart) / 1e9);
                    String line = String.format(Locale.ROOT, "%d,%.4f,%.4f,%.6f,%.3f,%.0f,%.1f", step, losses[0],
                            losses[1], lr, gradNorm, tps, elapsed);
                    Files.writeString(csv, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
                    log.printf(Locale.ROOT, "step %d/%d  loss %.4f  exit-loss %.4f  lr %.2e  |g| %.2f  %.0f tok/s  %.0fs%n",
                            step, o.steps(), losses[0], losses[1], lr, gradNorm, tps, elapsed);
                    windowStart = System.nanoTime();
                    windowSteps = 0;
                }
                if (step % o.checkpointEvery() == 0 || last) {
                    Checkpoint.save(ckptDir, step, c, all);
                }
                if (last) {
                    break;
                }
            }
            c.save(o.out());
            model.weights().save(o.out(), c.tieWordEmbeddings(), "F32");
            log.printf(Locale.ROOT, "wrote %s (step %d, %.1f min)%n", o.out(), step, (System.nanoTime() - t0) / 6e10);
        }
    }

    /** [total loss to backprop, final cross-entropy, mean early-exit cross-entropy or null]. */
    static NDArray[] loss(LlamaModel model, NDManager m, int[][] in, int[][] target, TrainOptions o) {
        LlamaConfig c = model.config();
        AttentionBatch a = AttentionBatch.causal(m, model.rope(), in.length, in[0].length);
        NDArray h = model.embed(m, in);
        NDArray exitLoss = null;
        int from = 0;
        for (int e : o.earlyExitLayers()) {
            h = model.stack(from, e).forward(h, a, null);
            from = e;
            NDArray l = Losses.crossEntropy(m, model.logits(h), target);
            exitLoss = exitLoss == null ? l : exitLoss.add(l);
        }
        h = model.stack(from, c.numHiddenLayers()).forward(h, a, null);
        NDArray ce = Losses.crossEntropy(m, model.logits(h), target);
        if (exitLoss == null) {
            return new NDArray[] {ce, ce, null};
        }
        exitLoss = exitLoss.div(o.earlyExitLayers().size());
        return new NDArray[] {ce.add(exitLoss.mul(o.earlyExitWeight())), ce, exitLoss};
    }
}
