package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * {@code ppsd train}: trains a Llama-architecture model from scratch on the engine's own layer code
 * ({@link dev.ppsd.engine.model.DecoderLayer}, uncached) with {@link TrainingLoop}, optionally adding a
 * LayerSkip-style early-exit loss (the shared LM head applied after the given layers). Writes the model in
 * the HF layout (config.json, model.safetensors, tokenizer.json) into the output folder.
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
        TokenStream data = TokenStream.load(o.corpus(), o.out(), c);
        log.printf(Locale.ROOT, "corpus: %d tokens from %s%n", data.size(), o.corpus());
        long t0 = System.nanoTime();
        NDManager manager = NDManager.newBaseManager();
        try (LlamaModel model = LlamaModel.of(c, manager, LlamaWeights.random(c, manager, o.settings().seed()))) {
            int step = TrainingLoop.run(o.settings(), data, model.weights().named(c.tieWordEmbeddings()), manager, c,
                    o.out(), (m, in, target) -> loss(model, m, in, target, o), log);
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
