package dev.ppsd.tools.cli;

import dev.ppsd.engine.checkpoint.ModelLoadException;

import java.io.PrintStream;

/**
 * The {@code bin/ppsd} command line: {@code generate} and the model tools. Bad arguments or files end with a
 * one-line {@code ppsd: error: ...} on stderr and exit code 2.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one subcommand; returns the process exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
            out.print(usage());
            return args.length == 0 ? 2 : 0;
        }
        String commandUsage = commandUsage(args[0]);
        if (commandUsage != null && (args.length == 1 || java.util.Arrays.asList(args).contains("--help"))) {
            // `ppsd CMD` alone or `ppsd CMD ... --help`: that command's usage (exit 2 when options are missing)
            out.print(commandUsage);
            return args.length == 1 ? 2 : 0;
        }
        try {
            switch (args[0]) {
                case "generate" -> GenerateCommand.run(args, out);
                case "train" -> TrainCommand.run(args, out);
                case "train-tokenizer" -> ModelToolCommands.trainTokenizer(args, out);
                case "distill-exit-head" -> ModelToolCommands.distill(args, out);
                case "eval" -> ModelToolCommands.eval(args, out);
                case "bench" -> BenchCommand.run(args, out);
                default -> throw new IllegalArgumentException("unknown command '" + args[0] + "' (commands: "
                        + "generate, train, train-tokenizer, distill-exit-head, eval, bench; see ppsd --help)");
            }
            return 0;
        } catch (IllegalArgumentException | ModelLoadException e) {
            err.println("ppsd: error: " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("ppsd: error: " + e);
            e.printStackTrace(err);
            return 1;
        }
    }

    /** The usage text of one command, or null for an unknown command. */
    static String commandUsage(String command) {
        return switch (command) {
            case "generate" -> GenerateCommand.USAGE;
            case "train" -> TrainCommand.USAGE;
            case "train-tokenizer", "distill-exit-head", "eval" -> ModelToolCommands.USAGE;
            case "bench" -> BenchCommand.USAGE;
            default -> null;
        };
    }

    static String usage() {
        return "usage: ppsd <command> [options]\ncommands:\n"
                + "  generate            complete prompts with a model\n"
                + "  train               train a Llama-architecture model from scratch\n"
                + "  train-tokenizer     train a byte-level BPE tokenizer.json\n"
                + "  distill-exit-head   train an early-exit head by self-distillation\n"
                + "  eval                perplexity and exit-head agreement (alpha) on held-out text\n"
                + "  bench               compare decoding modes on a prompt set\n\n"
                + GenerateCommand.USAGE + "\n" + TrainCommand.USAGE + "\n" + ModelToolCommands.USAGE + "\n"
                + BenchCommand.USAGE;
    }
}
