package dev.ppsd.tools.cli;

import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.tools.train.TrainOptions;
import dev.ppsd.tools.train.TrainingSettings;
import dev.ppsd.tools.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** {@code ppsd train}: trains a Llama-architecture model from scratch (see {@link Trainer}). */
final class TrainCommand {
    static final String USAGE = """
            usage: ppsd train --corpus FILE [--corpus FILE]... --tokenizer tokenizer.json --out DIR [options]
              model:    --layers 8 --hidden 256 --intermediate 704 --heads 8 --kv-heads 4 --vocab 4096
                        --max-pos 512 --tie (tie embeddings; default untied) --rope-theta 10000
              schedule: --steps 3000 --batch 16 --seq-len 128 --lr 3e-3 --min-lr 3e-4 --warmup 100
                        --weight-decay 0.1 --clip 1.0 --seed 1 --checkpoint-every 100
                        --time-limit-min 1e9 (stop, checkpoint and write the model after this many minutes)
              early-exit loss (LayerSkip style, shared LM head): --early-exit-layers 2,4 --early-exit-weight 0.3
            Re-running with the same --out resumes from out/checkpoint (a killed run loses at most the steps
            since its last checkpoint).
            """;

    private TrainCommand() {
    }

    /** The shared optimisation flags with per-command defaults. */
    static TrainingSettings settings(Args a, int steps, float lr, float minLr, int warmup, float weightDecay) {
        String limit = a.string("time-limit-min", "1e9");
        double minutes;
        try {
            minutes = Double.parseDouble(limit);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--time-limit-min must be a number but was '" + limit + "'");
        }
        return new TrainingSettings(a.integer("steps", steps), a.integer("batch", 16), a.integer("seq-len", 128),
                a.number("lr", lr), a.number("min-lr", minLr), a.integer("warmup", warmup),
                a.number("weight-decay", weightDecay), a.number("clip", 1.0f), a.longValue("seed", 1),
                a.integer("checkpoint-every", 100), minutes);
    }

    static void run(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of("tie"));
        int layers = a.integer("layers", 8);
        int hidden = a.integer("hidden", 256);
        int heads = a.integer("heads", 8);
        LlamaConfig cfg = new LlamaConfig(hidden, a.integer("intermediate", 704), layers, heads,
                a.integer("kv-heads", 4), hidden / heads, 1e-5f, a.number("rope-theta", 10000f),
                a.integer("vocab", 4096), a.integer("max-pos", 512), a.flag("tie"), 0, List.of(1));
        String exits = a.string("early-exit-layers", "");
        List<Integer> exitLayers;
        try {
            exitLayers = exits.isBlank() ? List.of()
                    : Arrays.stream(exits.split(",")).map(String::trim).map(Integer::parseInt).toList();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--early-exit-layers must be comma-separated integers but was '"
                    + exits + "'");
        }
        TrainOptions o = new TrainOptions(
                a.all("corpus").stream().map(Path::of).toList(),
                Path.of(a.required("tokenizer")),
                Path.of(a.required("out")),
                cfg,
                settings(a, 3000, 3e-3f, 3e-4f, 100, 0.1f),
                a.number("early-exit-weight", 0.3f),
                exitLayers);
        a.rejectUnknown();
        Trainer.run(o, out);
    }
}
