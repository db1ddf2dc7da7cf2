package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code ppsd distill-exit-head}: freezes the base model and trains a trained-kind {@link ExitHead} at layer E
 * (RMSNorm, one decoder layer initialised from layer E, RMSNorm, the shared LM head) by self-distillation,
 * minimising KL(p_final || q_exit) on a text corpus. Writes it in the HF layout (config.json +
 * model.safetensors) into the output folder, by default {@code MODEL/exit_head}.
 */
public final class Distiller {
    private Distiller() {
    }

    public static void run(Path modelDir, List<Path> corpus, int exitLayer, Path out, TrainingSettings s,
            PrintStream log) throws IOException {
        DjlRuntime.init();
        try (LlamaModel model = LlamaModel.load(modelDir)) {
            LlamaConfig c = model.config();
            ExitHead.checkExitLayer(c, exitLayer);
            TokenStream data = TokenStream.load(corpus, modelDir, c);
            log.printf(Locale.ROOT, "corpus: %d tokens; distilling an exit head at layer %d of %d%n", data.size(),
                    exitLayer, c.numHiddenLayers());
            Files.createDirectories(out);
            NDManager m = model.manager();
            ExitHead head = ExitHead.initTrained(model, exitLayer, m);
            long t0 = System.nanoTime();
            int step = TrainingLoop.run(s, data, head.named(), m, c.withLayers(1), out,
                    (mm, in, target) -> loss(model, head, mm, in), log);
            head.save(out);
            Checkpoint.deleteTree(out.resolve("checkpoint"));
            log.printf(Locale.ROOT, "wrote %s (step %d, %.1f min)%n", out, step, (System.nanoTime() - t0) / 6e10);
        }
    }

    /** [KL to backprop, KL, top-1 agreement of head and model]. */
    static NDArray[] loss(LlamaModel model, ExitHead head, NDManager m, int[][] in) {
        int n = model.config().numHiddenLayers();
        AttentionBatch a = AttentionBatch.causal(m, model.rope(), in.length, in[0].length);
        NDArray hE = model.stack(0, head.exitLayer()).forward(model.embed(m, in), a, null).stopGradient();
        NDArray p = model.logits(model.stack(head.exitLayer(), n).forward(hE, a, null)).stopGradient();
        NDArray q = head.logits(hE, a, null);
        NDArray kl = Losses.kl(p, q);
        NDArray agree = p.argMax(-1).eq(q.argMax(-1)).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).mean();
        return new NDArray[] {kl, kl, agree};
    }
}
