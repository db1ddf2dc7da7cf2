package dev.ppsd.tools.cli;

import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.tools.train.TrainOptions;
import dev.ppsd.tools.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code ppsd train}: trains a Llama-architecture model from scratch (see {@link Trainer}). Re-running with the same
 * {@code --out} resumes from {@code out/checkpoint} (a killed run loses at most the steps since its last checkpoint).
 */
@Command(name = "train", synopsisHeading = "usage: ", sortOptions = false,
        description = "train a Llama-architecture model from scratch; re-running with the same --out resumes")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Option(names = "--corpus", required = true, paramLabel = "FILE", description = "training text (repeatable)")
    private List<Path> corpus;
    @Option(names = "--tokenizer", required = true, paramLabel = "tokenizer.json")
    private Path tokenizer;
    @Option(names = "--out", required = true, paramLabel = "DIR")
    private Path out;
    @Option(names = "--layers", defaultValue = "8")
    private int layers;
    @Option(names = "--hidden", defaultValue = "256")
    private int hidden;
    @Option(names = "--intermediate", defaultValue = "704")
    private int intermediate;
    @Option(names = "--heads", defaultValue = "8")
    private int heads;
    @Option(names = "--kv-heads", defaultValue = "4")
    private int kvHeads;
    @Option(names = "--vocab", defaultValue = "4096")
    private int vocab;
    @Option(names = "--max-pos", defaultValue = "512")
    private int maxPos;
    @Option(names = "--tie", description = "tie the LM head to the embeddings (default untied)")
    private boolean tie;
    @Option(names = "--rope-theta", defaultValue = "10000")
    private float ropeTheta;
    @Option(names = "--early-exit-layers", split = ",", paramLabel = "E,E",
            description = "LayerSkip-style early-exit loss at these layers (shared LM head)")
    private List<Integer> exitLayers = List.of();
    @Option(names = "--early-exit-weight", defaultValue = "0.3")
    private float exitWeight;
    @Mixin
    private TrainingFlags training;

    @Override
    public Integer call() throws IOException {
        LlamaConfig cfg = new LlamaConfig(hidden, intermediate, layers, heads, kvHeads, hidden / heads, 1e-5f,
                ropeTheta, vocab, maxPos, tie, 0, List.of(1));
        Trainer.run(new TrainOptions(corpus, tokenizer, out, cfg, training.settings(3000, 3e-3f, 3e-4f, 100, 0.1f),
                exitWeight, exitLayers), CliOutput.of(spec));
        return 0;
    }
}
