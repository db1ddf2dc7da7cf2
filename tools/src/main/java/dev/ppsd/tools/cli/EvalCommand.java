package dev.ppsd.tools.cli;

import com.google.gson.GsonBuilder;
import dev.ppsd.tools.train.Evaluator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code ppsd eval}: held-out perplexity and each drafter's agreement α ({@link Evaluator}). */
@Command(name = "eval", synopsisHeading = "usage: ", sortOptions = false,
        description = "perplexity and drafter agreement (alpha: exit heads, SPD head) on held-out text")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Option(names = "--model", required = true, paramLabel = "DIR")
    private Path model;
    @Option(names = "--heldout", required = true, paramLabel = "FILE", description = "held-out text (repeatable)")
    private List<Path> heldout;
    @Option(names = "--train", paramLabel = "FILE", description = "training text, for the train/held-out gap")
    private List<Path> train = List.of();
    @Option(names = "--exit-head", paramLabel = "DIR", description = "a trained exit head to score (repeatable)")
    private List<Path> heads = List.of();
    @Option(names = "--spd-head", paramLabel = "DIR", description = "an SPD head to score (e.g. MODEL/spd_head)")
    private Path spdHead;
    @Option(names = "--seq-len", defaultValue = "128")
    private int seqLen;
    @Option(names = "--windows", defaultValue = "64")
    private int windows;
    @Option(names = "--json", paramLabel = "OUT")
    private Path json;

    @Override
    public Integer call() throws IOException {
        var report = Evaluator.run(model, heldout, train, heads, spdHead, seqLen, windows,
                CliOutput.of(spec));
        if (json != null) {
            Files.writeString(json, new GsonBuilder().setPrettyPrinting().create().toJson(report) + "\n");
        }
        return 0;
    }
}
