package dev.ppsd.tools.cli;

import picocli.CommandLine.Option;

/** The {@code -h, --help} option every command of {@code bin/ppsd} has (a picocli mixin). */
final class HelpOption {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "this text")
    private boolean help;
}
