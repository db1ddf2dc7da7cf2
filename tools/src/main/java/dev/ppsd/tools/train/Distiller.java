package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.schedule.DrafterPlan;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Self-distillation of a drafter with the base model frozen, minimising KL(p_final ‖ q_draft) on a text corpus, and
 * written in the HF layout (config.json + model.safetensors) into its folder:
 * <ul>
 *   <li>{@code ppsd distill-exit-head}: a trained-kind {@link ExitHead} at layer E (RMSNorm, one decoder layer
 *       initialised from layer E, RMSNorm, the shared LM head), by default into {@code MODEL/exit_head};</li>
 *   <li>{@code ppsd distill-spd-head}: an {@link SpdHead} for a k-stage pipeline, by default into
 *       {@code MODEL/spd_head}, at temperature τ (KL of the softened distributions times τ²) under the
 *       simulated-pipeline-fill mask: half of the windows as in a full pipeline (k tokens in flight), the others
 *       as right after a flush (1 to k−1 in flight), drawn per window from the window's own tokens.</li>
 * </ul>
 */
public final class Distiller {
    private Distiller() {
    }

    /** What one distillation trains: its tensors, its loss on a batch, and how it is written. */
    private interface Student {
        Map<String, NDArray> named();

        /** [loss to backprop, KL, top-1 agreement of drafter and model]. */
        NDArray[] loss(NDManager m, int[][] in);

        LlamaConfig checkpointShape();

        void save(Path out) throws IOException;
    }

    /** {@code ppsd distill-exit-head}. */
    public static void run(Path modelDir, List<Path> corpus, int exitLayer, Path out, TrainingSettings s,
            PrintStream log) throws IOException {
        distill(modelDir, corpus, out, s, log, model -> {
            LlamaConfig c = model.config();
            ExitHead.checkExitLayer(c, exitLayer);
            ExitHead head = ExitHead.initTrained(model, exitLayer, model.manager());
            log.printf(Locale.ROOT, "distilling an exit head at layer %d of %d%n", exitLayer, c.numHiddenLayers());
            return new Student() {
                public Map<String, NDArray> named() {
                    return head.named();
                }

                public NDArray[] loss(NDManager m, int[][] in) {
                    return Distiller.loss(model, head, m, in);
                }

                public LlamaConfig checkpointShape() {
                    return c.withLayers(1);
                }

                public void save(Path dir) throws IOException {
                    head.save(dir);
                }
            };
        });
    }

    /**
     * What {@code distill-spd-head} trains: an SPD head for {@code stages} stages with {@code layers} decoder layers
     * of MLP width {@code intermediate} (0: the model's), anchors {@code anchors} (null: {@link
     * SpdHead#defaultAnchors} of the split the cost model gives it), at distillation temperature {@code temperature}.
     */
    public record SpdSettings(int stages, int layers, int intermediate, int[] anchors, float temperature) {
        public SpdSettings {
            if (stages < 2) {
                throw new IllegalArgumentException("--stages must be >= 2 but was " + stages);
            }
            if (!(temperature > 0)) {
                throw new IllegalArgumentException("--temperature must be > 0 but was " + temperature);
            }
        }
    }

    /** {@code ppsd distill-spd-head}. */
    public static void runSpd(Path modelDir, List<Path> corpus, SpdSettings spd, Path out, TrainingSettings s,
            PrintStream log) throws IOException {
        distill(modelDir, corpus, out, s, log, model -> {
            SpdHead head = DrafterPlan.initSpdHead(model, spd.stages(), spd.layers(), spd.intermediate(),
                    spd.anchors(), model.manager());
            log.printf(Locale.ROOT, "distilling an SPD head for stages %s: anchors %s, %d layer(s) of MLP width %d,"
                    + " %.2f M weights of its own, temperature %.2f%n", Arrays.toString(head.stageBounds()),
                    Arrays.toString(head.anchors()), spd.layers(), head.layerConfig().intermediateSize(),
                    head.ownParameters() / 1e6, spd.temperature());
            return new Student() {
                public Map<String, NDArray> named() {
                    return head.named();
                }

                public NDArray[] loss(NDManager m, int[][] in) {
                    return spdLoss(model, head, m, in, fills(in, head.stages(), s.seed()), spd.temperature());
                }

                public LlamaConfig checkpointShape() {
                    return head.layerConfig();
                }

                public void save(Path dir) throws IOException {
                    head.save(dir);
                }
            };
        });
    }

    private static void distill(Path modelDir, List<Path> corpus, Path out, TrainingSettings s, PrintStream log,
            java.util.function.Function<LlamaModel, Student> make) throws IOException {
        DjlRuntime.init();
        try (LlamaModel model = LlamaModel.load(modelDir)) {
            LlamaConfig c = model.config();
            TokenStream data = TokenStream.load(corpus, modelDir, c);
            log.printf(Locale.ROOT, "corpus: %d tokens%n", data.size());
            Student student = make.apply(model);
            Files.createDirectories(out);
            long t0 = System.nanoTime();
            int step = TrainingLoop.run(s, data, student.named(), model.manager(), student.checkpointShape(), out,
                    (mm, in, target) -> student.loss(mm, in), log);
            student.save(out);
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
        return new NDArray[] {kl, kl, agreement(p, q)};
    }

    /**
     * [τ²·KL(p/τ ‖ q/τ) to backprop, the same, top-1 agreement of head and model] of the SPD head on windows
     * {@code in} with {@code fill[b]} tokens in flight when each position is the newest.
     */
    static NDArray[] spdLoss(LlamaModel model, SpdHead head, NDManager m, int[][] in, int[] fill, float temperature) {
        NDArray[] states = new NDArray[head.anchors().length];
        NDArray p = teacher(model, head.anchors(), m, in, states);
        NDArray q = head.teacherForcedLogits(m, model.rope(), in, states, fill);
        NDArray t = m.create(temperature);
        NDArray kl = Losses.kl(p.div(t), q.div(t)).mul(temperature * temperature);
        return new NDArray[] {kl, kl, agreement(p, q)};
    }

    /**
     * The frozen model on windows {@code in}: its logits {@code [B, T, V]}, and its states at {@code anchors} into
     * {@code states} (no gradient).
     */
    static NDArray teacher(LlamaModel model, int[] anchors, NDManager m, int[][] in, NDArray[] states) {
        AttentionBatch a = AttentionBatch.causal(m, model.rope(), in.length, in[0].length);
        NDArray h = model.stack(0, model.config().numHiddenLayers()).forward(model.embed(m, in), a, null, anchors,
                states);
        for (int i = 0; i < states.length; i++) {
            states[i] = states[i] == null ? null : states[i].stopGradient();
        }
        return model.logits(h).stopGradient();
    }

    private static NDArray agreement(NDArray p, NDArray q) {
        return p.argMax(-1).eq(q.argMax(-1)).toType(DataType.FLOAT32, false).mean();
    }

    /**
     * The simulated pipeline fill of each window: {@code k} (a full pipeline) for half of them, else 1 to k−1 (after a
     * flush), drawn from the window's tokens and the run's seed, so a resumed run draws the same.
     */
    static int[] fills(int[][] in, int k, long seed) {
        int[] fill = new int[in.length];
        for (int b = 0; b < in.length; b++) {
            SplittableRandom r = new SplittableRandom(seed * 31 + Arrays.hashCode(in[b]));
            fill[b] = r.nextBoolean() ? k : 1 + r.nextInt(k - 1);
        }
        return fill;
    }
}
