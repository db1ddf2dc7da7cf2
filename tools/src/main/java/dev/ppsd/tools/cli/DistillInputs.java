package dev.ppsd.tools.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/** What {@code distill-exit-head} and {@code distill-spd-head} distill from (a picocli mixin): the model and the text. */
final class DistillInputs {
    @Option(names = "--model", required = true, paramLabel = "DIR")
    Path model;
    @Option(names = "--corpus", required = true, paramLabel = "FILE", description = "training text (repeatable)")
    List<Path> corpus;
}
