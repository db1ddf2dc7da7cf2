package dev.ppsd.tools.cli;

import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.tools.train.Distiller;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code ppsd distill-spd-head}: trains the SPD head of {@code --mode spd} by self-distillation ({@link Distiller}). */
@Command(name = "distill-spd-head", synopsisHeading = "usage: ", sortOptions = false,
        description = "train the SPD head (spd's drafter) by self-distillation (the model stays frozen)")
final class DistillSpdCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Mixin
    private DistillInputs inputs;
    @Option(names = "--stages", paramLabel = "K", defaultValue = "2",
            description = "pipeline stages the head drafts for (default ${DEFAULT-VALUE})")
    private int stages;
    @Option(names = "--layers", paramLabel = "L", defaultValue = "1",
            description = "decoder layers of the head (default ${DEFAULT-VALUE})")
    private int layers;
    @Option(names = "--intermediate", paramLabel = "I", defaultValue = "0",
            description = "MLP width of the head's layers (default 0: the model's)")
    private int intermediate;
    @Option(names = "--anchors", split = ",", paramLabel = "A", description = "model depths whose states make"
            + " the rows (0 = the embedding; default: 0, the end of every stage but the last, N-1)")
    private int[] anchors;
    @Option(names = "--temperature", paramLabel = "TAU", defaultValue = "1.0",
            description = "distillation temperature: tau^2 KL(p/tau || q/tau) (default ${DEFAULT-VALUE})")
    private float temperature;
    @Option(names = "--out", paramLabel = "DIR", description = "where the head goes (default MODEL/" + SpdHead.DIR + ")")
    private Path out;
    @Mixin
    private TrainingFlags training;

    @Override
    public Integer call() throws IOException {
        Distiller.runSpd(inputs.model, inputs.corpus, new Distiller.SpdSettings(stages, layers, intermediate, anchors,
                temperature), out != null ? out : inputs.model.resolve(SpdHead.DIR),
                training.settings(600, 1e-3f, 1e-4f, 30, 0f),
                CliOutput.of(spec));
        return 0;
    }
}
