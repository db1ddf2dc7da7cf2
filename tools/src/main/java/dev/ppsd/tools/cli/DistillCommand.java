package dev.ppsd.tools.cli;

import dev.ppsd.tools.train.Distiller;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code ppsd distill-exit-head}: trains an early-exit head by self-distillation ({@link Distiller}). */
@Command(name = "distill-exit-head", synopsisHeading = "usage: ",
        sortOptions = false, description = "train an early-exit head by self-distillation (the model stays frozen)")
final class DistillCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Mixin
    private DistillInputs inputs;
    @Option(names = "--exit-layer", required = true, paramLabel = "E", description = "the head reads layer E's output")
    private int exitLayer;
    @Option(names = "--out", paramLabel = "DIR", description = "where the head goes (default MODEL/exit_head)")
    private Path out;
    @Mixin
    private TrainingFlags training;

    @Override
    public Integer call() throws IOException {
        Distiller.run(inputs.model, inputs.corpus, exitLayer, out != null ? out : inputs.model.resolve("exit_head"),
                training.settings(600, 1e-3f, 1e-4f, 30, 0f), CliOutput.of(spec));
        return 0;
    }
}
