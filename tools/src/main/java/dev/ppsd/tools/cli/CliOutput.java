package dev.ppsd.tools.cli;

import picocli.CommandLine.Model.CommandSpec;

import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/** A command's standard output (picocli's writer, which tests capture) as a stream, for code that prints to one. */
final class CliOutput extends OutputStream {
    private final PrintWriter out;

    private CliOutput(PrintWriter out) {
        this.out = out;
    }

    /** {@code spec}'s standard output as a UTF-8 print stream that flushes on every line. */
    static PrintStream of(CommandSpec spec) {
        return new PrintStream(new CliOutput(spec.commandLine().getOut()), true, StandardCharsets.UTF_8);
    }

    @Override
    public void write(int b) {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
        out.write(new String(b, off, len, StandardCharsets.UTF_8));
    }

    @Override
    public void flush() {
        out.flush();
    }
}
