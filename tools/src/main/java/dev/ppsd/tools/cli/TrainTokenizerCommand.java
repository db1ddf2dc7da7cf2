package dev.ppsd.tools.cli;

import dev.ppsd.engine.tokenizer.ByteLevelBpe;
import dev.ppsd.tools.tokenizer.BpeTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code ppsd train-tokenizer}: trains a byte-level BPE {@code tokenizer.json} ({@link BpeTrainer}). */
@Command(name = "train-tokenizer", synopsisHeading = "usage: ", sortOptions = false,
        description = "train a byte-level BPE tokenizer.json")
final class TrainTokenizerCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Option(names = "--corpus", required = true, paramLabel = "FILE", description = "training text (repeatable)")
    private List<Path> corpus;
    @Option(names = "--vocab", defaultValue = "4096", description = "vocabulary size (default ${DEFAULT-VALUE})")
    private int vocab;
    @Option(names = "--out", required = true, paramLabel = "tokenizer.json")
    private Path target;

    @Override
    public Integer call() throws IOException {
        List<String> lines = new ArrayList<>();
        for (Path f : corpus) {
            try {
                lines.addAll(Files.readAllLines(f, StandardCharsets.UTF_8));
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException(f + ": corpus file not found");
            }
        }
        long t0 = System.nanoTime();
        ByteLevelBpe r = BpeTrainer.train(lines, vocab, List.of("<s>", "</s>", "<pad>"));
        r.writeTokenizerJson(target);
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s: vocab %d (%d merges) from %d lines in %.1f s%n",
                target, r.vocabSize(), r.merges().size(), lines.size(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
