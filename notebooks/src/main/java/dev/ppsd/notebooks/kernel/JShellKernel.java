package dev.ppsd.notebooks.kernel;

import jdk.jshell.DeclarationSnippet;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.SourceCodeAnalysis.Completeness;
import jdk.jshell.SourceCodeAnalysis.CompletionInfo;
import jdk.jshell.UnresolvedReferenceException;
import org.dflib.jjava.jupyter.channels.JupyterConnection;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.BaseKernelBuilder;
import org.dflib.jjava.jupyter.kernel.KernelConnectionProperties;
import org.dflib.jjava.jupyter.kernel.LanguageInfo;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

/**
 * A Jupyter kernel for Java 17: each cell is cut into JShell snippets (declarations, statements, expressions) and
 * evaluated in this JVM, so the notebook's SparkSession, its local executor and the PPSD engines all live in the
 * kernel process. The Jupyter side (ZeroMQ sockets, message signing, iopub streams) is DFLib JJava's generic
 * kernel library; JShell does the Java.
 *
 * <p>What a notebook sees:
 * <ul>
 *   <li>{@code System.out} / {@code System.err} (and Scala's {@code Console}, which Spark's {@code show()} uses)
 *       become the cell's stdout / stderr streams;</li>
 *   <li>the value of a cell's last expression becomes its {@code execute_result} (text/plain, JShell's format);</li>
 *   <li>a compile error, an unresolved reference or an exception fails the cell with an {@code error} output
 *       naming the snippet and, for exceptions, the stack trace; later cells of a run-all are not executed.</li>
 * </ul>
 * Classes on the kernel's classpath (engine, udf, Spark) are importable; the imports of {@code jshell}'s DEFAULT
 * startup ({@code java.util.*}, {@code java.nio.file.*}, ...) are there from the start.
 *
 * <p>Started by Jupyter through the kernelspec {@link KernelSpec} writes:
 * {@code java <flags> -cp <classpath> dev.ppsd.notebooks.kernel.JShellKernel <connection file>}.
 */
public final class JShellKernel extends BaseKernel {
    /** jshell's DEFAULT startup imports. */
    static final List<String> DEFAULT_IMPORTS = List.of("java.io.*", "java.math.*", "java.net.*", "java.nio.file.*",
            "java.util.*", "java.util.concurrent.*", "java.util.function.*", "java.util.prefs.*", "java.util.regex.*",
            "java.util.stream.*");

    /** The process's stderr as it was at start-up (during a cell, System.err is the cell's stderr stream). */
    private static final java.io.PrintStream KERNEL_LOG = System.err;

    private final JShell shell;
    private final InProcessExecution.Provider execution = new InProcessExecution.Provider();

    private JShellKernel(Builder b) {
        super(b.name(), b.version(), new LanguageInfo.Builder("java")
                        .version(String.valueOf(Runtime.version().feature()))
                        .mimetype("text/x-java-source")
                        .fileExtension(".jshell")
                        .pygments("java")
                        .codemirror("text/x-java")
                        .build(),
                List.of(), null, b.io(), b.comms(), b.renderer(), null, b.magics(), false, b.errorStyler());
        shell = JShell.builder()
                .executionEngine(execution, Map.of())
                .build();
        shell.addToClasspath(System.getProperty("java.class.path"));
    }

    /**
     * Imports jshell's DEFAULT packages and so warms up the compiler (the first snippet reads the whole classpath:
     * seconds). Holds the kernel's lock, as a cell's execution does, so the first cell waits for it.
     */
    public void warmUp() {
        warmUp(() -> { });
    }

    /** {@link #warmUp()}, calling {@code locked} once it holds the kernel's lock. */
    synchronized void warmUp(Runnable locked) {
        locked.run();
        evalCell(DEFAULT_IMPORTS.stream().map(p -> "import " + p + ";").collect(Collectors.joining("\n")));
    }

    /** A kernel with the given name and version; cells run in this JVM. */
    public static JShellKernel create(String name, String version) {
        return new Builder().name(name).version(version).build();
    }

    /**
     * {@code JShellKernel <connection file>}: serves the Jupyter connection described by the file until the
     * frontend shuts the kernel down, then exits the JVM (Spark and DJL leave non-daemon threads behind).
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: JShellKernel <connection file>");
            System.exit(2);
        }
        Path connectionFile = Path.of(args[0]);
        if (!Files.isRegularFile(connectionFile)) {
            System.err.println("JShellKernel: connection file " + connectionFile + " is not a file");
            System.exit(2);
        }
        // Start logging now, while System.err is still the process's stderr: log lines (Spark's warnings) then go
        // to the kernel's log, not into whichever cell happens to run.
        LoggerFactory.getLogger(JShellKernel.class);
        KernelConnectionProperties props = KernelConnectionProperties.parse(Files.readString(connectionFile));
        JupyterConnection connection = new JupyterConnection(props);
        JShellKernel kernel = create(KernelSpec.NAME, KernelSpec.version());
        kernel.onStartup();
        kernel.becomeHandlerForConnection(connection);
        // Warm up in the background, holding the kernel's lock from before the first request can arrive:
        // kernel_info is answered at once, the first execute_request waits for the warm-up.
        CountDownLatch locked = new CountDownLatch(1);
        Thread warmUp = new Thread(() -> kernel.warmUp(locked::countDown), "jshell-warm-up");
        warmUp.setDaemon(true);
        warmUp.start();
        locked.await();
        connection.connect();
        connection.waitUntilClose();
        System.exit(0);
    }

    @Override
    public Object evalRaw(String code) {
        return evalCell(code);
    }

    @Override
    public DisplayData eval(String code) {
        String value;
        try {
            value = evalCell(code);
        } catch (CellError e) {
            // the notebook gets the traceback as the cell's error output; the kernel's log (the terminal of
            // jupyter / nbconvert) gets it too, so a failed headless run shows where and why
            KERNEL_LOG.println("[ppsd-java] cell failed: " + String.join("\n", e.traceback()));
            throw e;
        }
        return value == null ? null : new DisplayData(value);
    }

    /**
     * Evaluates every snippet of {@code code} in order and returns the value of the last one when it is an
     * expression with a value (else null). Throws {@link CellError} at the first snippet that does not compile or
     * throws; the snippets before it stay in effect, as in jshell.
     */
    public String evalCell(String code) {
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        String remaining = code;
        String value = null;
        while (!remaining.isBlank()) {
            CompletionInfo info = analysis.analyzeCompletion(remaining);
            Completeness c = info.completeness();
            if (c == Completeness.EMPTY) {
                if (info.remaining().equals(remaining)) {
                    break;
                }
                remaining = info.remaining();
                continue;
            }
            if (c == Completeness.DEFINITELY_INCOMPLETE || c == Completeness.CONSIDERED_INCOMPLETE) {
                throw CellError.incomplete(remaining);
            }
            // COMPLETE, COMPLETE_WITH_SEMI, or UNKNOWN (does not parse: eval reports the compiler's diagnostics)
            String source = c == Completeness.UNKNOWN ? remaining : info.source();
            remaining = c == Completeness.UNKNOWN ? "" : info.remaining();
            value = evalSnippet(source);
        }
        return value;
    }

    private String evalSnippet(String source) {
        String value = null;
        for (SnippetEvent e : shell.eval(source)) {
            if (e.causeSnippet() != null) {
                continue; // a dependent snippet updated by this one
            }
            Snippet s = e.snippet();
            if (e.status() == Snippet.Status.REJECTED) {
                throw CellError.compile(source, shell.diagnostics(s).toList());
            }
            if (e.exception() != null) {
                throw CellError.thrown(source, e.exception());
            }
            if (e.status() == Snippet.Status.RECOVERABLE_DEFINED || e.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                List<String> missing = s instanceof DeclarationSnippet d ? shell.unresolvedDependencies(d).toList()
                        : List.of();
                throw CellError.unresolved(source, missing);
            }
            boolean expression = s.kind() == Snippet.Kind.EXPRESSION
                    || s.subKind() == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND;
            value = expression ? e.value() : null;
        }
        return value;
    }

    @Override
    public DisplayData inspect(String code, int at, boolean extraDetail) {
        List<SourceCodeAnalysis.Documentation> docs = shell.sourceCodeAnalysis().documentation(code, at, extraDetail);
        if (docs.isEmpty()) {
            return null;
        }
        StringBuilder text = new StringBuilder();
        for (SourceCodeAnalysis.Documentation d : docs) {
            text.append(d.signature()).append('\n');
            if (d.javadoc() != null && !d.javadoc().isBlank()) {
                text.append(d.javadoc().strip()).append("\n\n");
            }
        }
        return new DisplayData(text.toString().strip());
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        int[] anchor = new int[1];
        List<String> options = shell.sourceCodeAnalysis().completionSuggestions(code, at, anchor).stream()
                .map(SourceCodeAnalysis.Suggestion::continuation)
                .distinct()
                .toList();
        return new ReplacementOptions(options, anchor[0], at);
    }

    @Override
    public String isComplete(String code) {
        String remaining = code;
        while (!remaining.isBlank()) {
            CompletionInfo info = shell.sourceCodeAnalysis().analyzeCompletion(remaining);
            switch (info.completeness()) {
                case DEFINITELY_INCOMPLETE, CONSIDERED_INCOMPLETE:
                    return "    ";
                case UNKNOWN:
                    return IS_COMPLETE_BAD;
                default:
                    if (info.remaining().equals(remaining)) {
                        return IS_COMPLETE_YES;
                    }
                    remaining = info.remaining();
            }
        }
        return IS_COMPLETE_YES;
    }

    @Override
    public void interrupt() {
        execution.interruptRunning();
    }

    @Override
    public List<String> formatError(Throwable e) {
        return e instanceof CellError ce ? ce.traceback() : super.formatError(e);
    }

    @Override
    public void onShutdown(boolean isRestarting) {
        super.onShutdown(isRestarting);
        shell.close();
    }

    /** Why a cell failed: its message is one line, its traceback the lines a notebook shows. */
    public static final class CellError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final transient List<String> traceback;

        private CellError(String message, List<String> traceback) {
            super(message, null, false, false); // no Java stack: the kernel's frames say nothing about the cell
            this.traceback = List.copyOf(traceback);
        }

        /** The lines of the notebook's error output. */
        public List<String> traceback() {
            return traceback;
        }

        static CellError incomplete(String source) {
            String first = source.strip().lines().findFirst().orElse("");
            return new CellError("incomplete code: " + first, List.of("incomplete code (a missing ';', ')' or '}'?):",
                    source.strip()));
        }

        static CellError compile(String source, List<Diag> diags) {
            List<String> lines = new ArrayList<>();
            String first = null;
            for (Diag d : diags) {
                if (!d.isError()) {
                    continue;
                }
                // drop javac's "location: class " line: the class is JShell's nameless wrapper
                String msg = d.getMessage(Locale.ROOT).lines().filter(l -> !l.strip().equals("location: class"))
                        .collect(Collectors.joining("\n"));
                first = first == null ? msg.lines().findFirst().orElse(msg) : first;
                lines.add("error: " + msg);
                lines.addAll(pointAt(source, (int) d.getStartPosition(), (int) d.getEndPosition()));
            }
            return new CellError("compile error: " + (first == null ? "rejected" : first), lines);
        }

        static CellError unresolved(String source, List<String> missing) {
            String msg = "unresolved reference" + (missing.isEmpty() ? "" : ": " + String.join(", ", missing));
            return new CellError(msg, List.of("error: " + msg + " is not declared yet", source.strip()));
        }

        static CellError thrown(String source, JShellException e) {
            String name = e instanceof EvalException ee ? ee.getExceptionClassName()
                    : e instanceof UnresolvedReferenceException ? "unresolved reference" : e.getClass().getName();
            String head = name + (e.getMessage() == null ? "" : ": " + e.getMessage());
            List<String> lines = new ArrayList<>();
            lines.add(head);
            appendTrace(lines, e, "");
            lines.add("in: " + source.strip().lines().findFirst().orElse(""));
            return new CellError(head, lines);
        }

        private static void appendTrace(List<String> lines, Throwable t, String indent) {
            for (StackTraceElement el : t.getStackTrace()) {
                lines.add(indent + "\tat " + el);
            }
            Throwable cause = t.getCause();
            if (cause != null && cause != t) {
                String name = cause instanceof EvalException ee ? ee.getExceptionClassName() : cause.getClass().getName();
                lines.add(indent + "Caused by: " + name + (cause.getMessage() == null ? "" : ": " + cause.getMessage()));
                appendTrace(lines, cause, indent);
            }
        }

        /** The source line holding [start, end) and a caret line under it. */
        private static List<String> pointAt(String source, int start, int end) {
            if (start < 0 || start > source.length()) {
                return List.of(source.strip());
            }
            int lineStart = source.lastIndexOf('\n', Math.max(0, start - 1)) + 1;
            if (start == 0) {
                lineStart = 0;
            }
            int lineEnd = source.indexOf('\n', start);
            lineEnd = lineEnd < 0 ? source.length() : lineEnd;
            String line = source.substring(lineStart, lineEnd);
            int from = start - lineStart;
            int to = Math.max(from + 1, Math.min(end, lineEnd) - lineStart);
            return List.of("    " + line, "    " + " ".repeat(from) + "^" + (to - from > 1 ? "-".repeat(to - from - 2)
                    + "^" : ""));
        }
    }

    /** Builds the kernel from jjava-jupyter's defaults (UTF-8 streams, no magics, no history). */
    private static final class Builder extends BaseKernelBuilder<Builder, JShellKernel> {
        Builder() {
            jupyterIOEncoding(StandardCharsets.UTF_8);
        }

        @Override
        public JShellKernel build() {
            return new JShellKernel(this);
        }

        String name() {
            return buildName();
        }

        String version() {
            return buildVersion();
        }

        org.dflib.jjava.jupyter.kernel.JupyterIO io() {
            return buildJupyterIO(buildJupyterIOEncoding());
        }

        org.dflib.jjava.jupyter.kernel.comm.CommManager comms() {
            return buildCommManager();
        }

        org.dflib.jjava.jupyter.kernel.display.Renderer renderer() {
            return buildRenderer();
        }

        org.dflib.jjava.jupyter.kernel.magic.MagicsRegistry magics() {
            return buildMagicsRegistry();
        }

        org.dflib.jjava.jupyter.kernel.util.StringStyler errorStyler() {
            return buildErrorStyler();
        }
    }
}
