package dev.ppsd.tools.cli;

import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.settings.SettingOptions;
import dev.ppsd.engine.settings.Settings;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;

/**
 * The {@code bin/ppsd} command line (picocli): {@code generate}, {@code bench} and the model tools. The options of
 * {@code generate} and {@code bench} are the engine's settings table ({@link Settings}, through
 * {@link SettingOptions}) plus each command's own. Bad arguments or files end with a one-line
 * {@code ppsd: error: ...} on stderr and exit code 2; any other failure with exit code 1.
 */
@Command(name = "ppsd", synopsisHeading = "usage: ", customSynopsis = "ppsd <command> [options]",
        commandListHeading = "%ncommands:%n",
        description = "Pipeline-parallel self-speculative decoding, and the tools of its models.",
        subcommands = {GenerateCommand.class, BenchCommand.class, TrainCommand.class, TrainTokenizerCommand.class,
                DistillCommand.class, DistillSpdCommand.class, EvalCommand.class, RandomModelCommand.class})
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one subcommand; returns the process exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cl = commandLine(out, err);
        if (args.length == 0) {
            out.print(cl.getUsageMessage());
            return 2;
        }
        if (args.length == 1 && cl.getSubcommands().containsKey(args[0])) {
            // `ppsd CMD` alone: that command's usage
            out.print(cl.getSubcommands().get(args[0]).getUsageMessage());
            return 2;
        }
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("help"))) {
            out.print(cl.getUsageMessage());
            return 0;
        }
        return cl.execute(args);
    }

    /** The command line, with the settings table's options on {@code generate} and {@code bench}. */
    static CommandLine commandLine(PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new Main());
        for (String withSettings : List.of("generate", "bench")) {
            SettingOptions.addTo(cl.getSubcommands().get(withSettings).getCommandSpec(), Settings.all());
        }
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setParameterExceptionHandler((e, args) -> {
            String msg = e.getMessage();
            if (e instanceof CommandLine.UnmatchedArgumentException && e.getCommandLine() == cl) {
                msg = "unknown command '" + args[0] + "' (commands: " + String.join(", ",
                        cl.getSubcommands().keySet()) + "; see ppsd --help)";
            }
            e.getCommandLine().getErr().println("ppsd: error: " + msg);
            return 2;
        });
        cl.setExecutionExceptionHandler((e, command, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof ModelLoadException) {
                command.getErr().println("ppsd: error: " + e.getMessage());
                return 2;
            }
            command.getErr().println("ppsd: error: " + e);
            e.printStackTrace(command.getErr());
            return 1;
        });
        return cl;
    }
}
