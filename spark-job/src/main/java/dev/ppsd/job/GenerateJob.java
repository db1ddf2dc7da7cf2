package dev.ppsd.job;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.udf.PpsdGenerator;
import dev.ppsd.udf.PpsdRowException;
import dev.ppsd.udf.JobSettings;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.spark.sql.SparkSession;
import scala.Option;
import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.File;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The batch generation job: reads a prompt table, generates every row with the PPSD engine through the udf's
 * {@link PpsdGenerator}, and writes the input columns plus the result columns, resumably. Run it with
 * {@code spark-submit --class dev.ppsd.job.GenerateJob ppsd-spark-job-<v>-all.jar --input ... --output ...}, or
 * with {@code bin/ppsd-job}, which runs Spark in local mode in its own JVM:
 *
 * <pre>{@code
 * $ bin/ppsd-job --input data/prompts/sample.jsonl --output target/ppsd-out
 * ppsd-job: 12 input rows, 0 already in the output, 12 to generate in 1 part set; output file:/.../target/ppsd-out (parquet)
 * ppsd-job: part set 0 committed (12 rows, 1 files), 1 of 1
 * ppsd-job: wrote 12 rows to file:/.../target/ppsd-out (parquet)
 *   rows      12 ok, 0 failed, 0 skipped (already in the output); 12 in the output
 *   tokens    115 prompt, 277 generated, 104.1 tokens/s, acceptance n/a (no drafts)
 *   time      7.3 s wall, 2.7 s generating, 1 part set
 *   settings  mode=ar max_new_tokens=64 temperature=0.0 top_k=0 top_p=1.0 seed=0 batch_size=8 fail_on_error=false
 *   ...
 * }</pre>
 *
 * Everything the job checks (arguments, model, input, columns, duplicate ids, output) is checked before the first
 * row is generated; a failure ends with one line {@code ppsd-job: error: ...} on stderr and a non-zero exit code
 * ({@link JobException}). How output is committed and resumed: {@link OutputDir}. Flags: {@link JobArgs#usage()}.
 */
public final class GenerateJob {
    static final String NAME = "ppsd-job";
    /** The address embedded (local-mode) runs bind, advertise and name their host by. */
    static final String LOOPBACK = "127.0.0.1";
    /** How long a signal's shutdown waits for the run to give up before it says that it stopped. */
    private static final int STOP_WAIT_SECONDS = 5;
    /** The signal (TERM, INT, HUP) that started the JVM's shutdown while the job ran, or null. */
    private static volatile String signalled;
    /** What a run that a signal ended says (its last line, and its summary's error). */
    static final String STOPPED = "stopped by a signal before the end (committed part sets are kept: a re-run resumes)";

    private GenerateJob() {
    }

    /** Runs the job and exits with its exit code. */
    public static void main(String[] args) {
        boolean embeddedLogs = System.getProperty("spark.master") == null
                && System.getProperty("log4j2.configurationFile") == null
                && System.getProperty("log4j.configurationFile") == null;
        if (embeddedLogs) {
            // embedded: Spark's INFO chatter off before anything touches log4j (spark-submit brings its own config)
            System.setProperty("log4j2.configurationFile", "dev/ppsd/job/log4j2-embedded.properties");
        }
        CountDownLatch ended = sayWhenASignalStopsTheRun(embeddedLogs);
        int code = run(args);
        ended.countDown();
        System.exit(code); // (while the JVM shuts down on a signal, this waits for it: the exit code is the signal's)
    }

    /**
     * Makes a run that a signal ends (SIGTERM from a scheduler, Ctrl-C) say so as its last line, and that what it
     * committed stays; what the run reports as Spark shuts down under it is not its own failure ({@link #stopping}),
     * nor, with the embedded log configuration, what Spark logs as it goes. An exit from elsewhere (Spark's on an
     * uncaught error) reports as before. Returns the latch to count down when the run has ended.
     */
    private static CountDownLatch sayWhenASignalStopsTheRun(boolean embeddedLogs) {
        for (String name : List.of("TERM", "INT", "HUP")) {
            try {
                Signal signal = new Signal(name);
                SignalHandler[] before = new SignalHandler[1];
                before[0] = Signal.handle(signal, sig -> {
                    signalled = name; // then the JVM's own handling: its shutdown
                    before[0].handle(sig);
                });
            } catch (IllegalArgumentException e) {
                // a signal this JVM does not handle (ignored when it started, or -Xrs): nothing to note
            }
        }
        CountDownLatch ended = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (ended.getCount() > 0 && stopping()) {
                if (embeddedLogs) {
                    Configurator.setAllLevels(LogManager.ROOT_LOGGER_NAME, Level.OFF);
                }
                try {
                    ended.await(STOP_WAIT_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                System.err.println(NAME + ": " + STOPPED);
                System.err.flush();
            }
        }, "ppsd-job-stopped"));
        return ended;
    }

    /** Whether a signal is ending this JVM while the job runs ({@link #main}): its failures go unreported. */
    static boolean stopping() {
        return signalled != null;
    }

    /** Runs the job on this JVM's stdout / stderr and returns the exit code: 0 done, 2 bad input, 1 failed. */
    public static int run(String[] args) {
        return run(args, System.out, System.err);
    }

    /** {@link #run(String[])} writing the summary to {@code out} and progress and errors to {@code err}. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        JobArgs a;
        try {
            a = JobArgs.parse(args);
        } catch (JobException e) {
            err.println(NAME + ": error: " + e.getMessage());
            return e.exitCode();
        }
        if (a.help) {
            out.print(JobArgs.usage());
            out.flush();
            return 0;
        }
        Session session = null;
        try {
            boolean submitted = System.getProperty("spark.master") != null;
            Map<String, Object> explicit = resolveModel(a, submitted);
            checkModel(explicit, !submitted && (a.master == null || a.master.startsWith("local")));
            session = Session.open(a, submitted, err);
            new JobRun(session.spark, a, explicit, session.description, out, err).execute();
            return 0;
        } catch (JobException e) {
            if (stopping()) {
                return e.exitCode();
            }
            if (e.getCause() != null && !isRowFailure(e.getCause())) {
                e.getCause().printStackTrace(err); // a task failed, not a bad row: where, for a bug report
            }
            err.println(NAME + ": error: " + e.getMessage());
            return e.exitCode();
        } catch (Exception | Error e) {
            if (stopping()) {
                return JobException.FAILED;
            }
            e.printStackTrace(err);
            err.println(NAME + ": error: " + reason(e));
            return JobException.FAILED;
        } finally {
            if (session != null) {
                session.close();
            }
            err.flush();
            out.flush();
        }
    }

    /**
     * The explicit settings with the model resolved and checked, before Spark starts: {@code --model}, else
     * {@code spark.ppsd.model} from spark-submit's conf, else the bundled model. Every setting is checked together
     * with the ones spark-submit passed.
     */
    private static Map<String, Object> resolveModel(JobArgs a, boolean submitted) {
        Map<String, Object> explicit = new java.util.LinkedHashMap<>(a.settings());
        Object model = explicit.get(Settings.MODEL.name());
        if (model == null) {
            model = System.getProperty(Settings.MODEL.confKey());
        }
        model = model == null ? ModelLocation.bundled() : ModelLocation.check((String) model, submitted);
        explicit.put(Settings.MODEL.name(), model);
        try {
            JobSettings.resolve(st -> explicit.get(st.name()), System::getProperty).handle().validate();
        } catch (IllegalArgumentException e) {
            throw JobException.usage(e.getMessage());
        }
        return explicit;
    }

    /**
     * Opens what the executors will open, on the driver, before Spark starts or the output is touched: a local model
     * folder's config, checkpoint headers, tokenizer and exit heads, and (when this JVM runs the stages: embedded or
     * local master) the stage devices; one line and exit 2 on a problem. A Hadoop URI or a shipped folder name is
     * left to the executors.
     */
    private static void checkModel(Map<String, Object> explicit, boolean localStages) {
        String model = (String) explicit.get(Settings.MODEL.name());
        if (!java.nio.file.Files.isDirectory(java.nio.file.Path.of(model))) {
            return;
        }
        JobSettings s = JobSettings.resolve(st -> explicit.get(st.name()), System::getProperty);
        try {
            GenerationEngine.check(s.engine(), localStages);
        } catch (ModelLoadException | IllegalArgumentException e) {
            throw JobException.usage(firstLine(e)); // names the file, or the setting
        }
    }

    /** The first line of a throwable's message (or its class name). */
    static String firstLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            return e.getClass().getSimpleName();
        }
        m = m.strip();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl).strip();
    }

    /** Whether {@code e} is a bad row stopping the job under fail_on_error (its message says all there is). */
    static boolean isRowFailure(Throwable e) {
        return rowMessage(e) != null;
    }

    /**
     * The message of the bad row in {@code e}'s causes ({@code row id=7: prompt is null}), whether it is there as an
     * exception (local mode) or as text inside Spark's "Job aborted" message (from a cluster executor); else null.
     */
    private static String rowMessage(Throwable e) {
        String row = PpsdRowException.class.getName() + ": ";
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof PpsdRowException) {
                return t.getMessage();
            }
            String m = t.getMessage();
            if (m != null && m.contains(row)) {
                return firstLine(new RuntimeException(m.substring(m.indexOf(row) + row.length())));
            }
        }
        return null;
    }

    /**
     * Why generation failed, as one line: a bad row's message ({@code row id=7: prompt is null}) when
     * fail_on_error stopped it; else the exception that failed the task (in local mode it is the root cause; from
     * a cluster executor it arrives as text inside Spark's "Job aborted" message); else the first line.
     */
    static String reason(Throwable e) {
        String row = rowMessage(e);
        if (row != null) {
            return row;
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != e && !root.getClass().getName().startsWith("org.apache.spark.")) {
            return root.getClass().getSimpleName() + ": " + firstLine(root);
        }
        String m = e.getMessage() == null ? "" : e.getMessage();
        int caused = m.lastIndexOf("Caused by: ");
        int lost = m.indexOf("most recent failure: ");
        String text = caused >= 0 ? m.substring(caused + "Caused by: ".length())
                : lost >= 0 && m.indexOf("): ", lost) >= 0 ? m.substring(m.indexOf("): ", lost) + 3) : null;
        if (text != null) {
            text = firstLine(new RuntimeException(text));
            // "java.lang.IllegalStateException: msg" -> "IllegalStateException: msg"
            int colon = text.indexOf(": ");
            String cls = colon > 0 ? text.substring(0, colon) : "";
            if (cls.matches("[\\w.$]+\\.[A-Z][\\w$]*")) {
                text = cls.substring(cls.lastIndexOf('.') + 1) + text.substring(colon);
            }
            return text;
        }
        return firstLine(e);
    }

    /** The Spark session of a run: this JVM's running session (kept), or one started here (stopped at the end). */
    static final class Session implements AutoCloseable {
        final SparkSession spark;
        final String description;
        private final boolean owned;

        private Session(SparkSession spark, String description, boolean owned) {
            this.spark = spark;
            this.description = description;
            this.owned = owned;
        }

        /**
         * Under spark-submit: the session spark-submit configured. Otherwise with --master: that master; without:
         * local[*] in this JVM (the embedded mode), on the loopback address, without the web UI and with local files
         * through {@link NioLocalFileSystem} unless a --conf says otherwise. A session already running in this JVM (a
         * notebook, a test) is reused and left running.
         */
        static Session open(JobArgs a, boolean submitted, PrintStream err) {
            String master = a.master != null ? a.master : submitted ? null : "local[*]";
            String effective = master != null ? master : System.getProperty("spark.master");
            boolean local = effective.startsWith("local");
            if (!submitted && local) {
                loopbackHostName(); // before Spark's first class names the host
            }
            Option<SparkSession> running = SparkSession.getActiveSession();
            if (running.isEmpty() || running.get().sparkContext().isStopped()) {
                running = SparkSession.getDefaultSession();
            }
            if (running.isDefined() && !running.get().sparkContext().isStopped()) {
                if (!a.sparkConf.isEmpty() || a.master != null) {
                    err.println(NAME + ": note: a Spark session is already running in this JVM (" + running.get()
                            .sparkContext().master() + "); using it and ignoring --master / --conf "
                            + String.join(", ", a.sparkConf.keySet()));
                }
                SparkSession s = running.get();
                return new Session(s, s.sparkContext().master(), false);
            }
            SparkSession.Builder b = SparkSession.builder().appName(a.appName);
            if (master != null) {
                b.master(master);
            }
            if (!submitted && local) {
                b.config("spark.ui.enabled", "false");
                b.config("spark.driver.host", LOOPBACK);
                b.config("spark.driver.bindAddress", LOOPBACK);
                b.config("spark.hadoop.fs.file.impl", NioLocalFileSystem.class.getName());
            }
            if (!submitted && !local) {
                String jar = assemblyJar();
                if (jar != null) {
                    b.config("spark.jars", jar);
                } else {
                    err.println(NAME + ": note: no ppsd-spark-job-*-all.jar found beside the job's classes; executors"
                            + " of " + master + " need it: use spark-submit or --conf spark.jars=...");
                }
            }
            a.sparkConf.forEach(b::config);
            SparkSession s = b.getOrCreate();
            String kind = submitted ? "spark-submit" : local ? "embedded" : "client";
            return new Session(s, s.sparkContext().master() + " (" + kind + ")", true);
        }

        /**
         * Embedded mode sends nothing off the machine, not even a DNS query. Spark 3.5 names the host it runs on by
         * {@code Utils.localCanonicalHostName()}: the {@code SPARK_LOCAL_HOSTNAME} environment variable, else the
         * canonical name of {@code SPARK_LOCAL_IP}, else of the host's first non-loopback address when its name
         * resolves to a loopback one (Debian's 127.0.1.1): a reverse DNS lookup of the LAN address. It asks when its
         * config is first loaded (the default of {@code spark.driver.host} is computed then, even when the conf is
         * set) and for the local executor's host name; {@code spark.driver.host} and {@code spark.driver.bindAddress}
         * (set below) only decide what the driver advertises and binds. So, unless the user set
         * {@code SPARK_LOCAL_HOSTNAME}, this does what it would do, through the call a Spark executor makes with the
         * host name it was given ({@code Utils.setCustomHostname}): the host is 127.0.0.1, before any Spark class
         * asks, for the rest of this JVM.
         */
        static void loopbackHostName() {
            if (System.getenv("SPARK_LOCAL_HOSTNAME") == null) {
                org.apache.spark.util.Utils.setCustomHostname(LOOPBACK);
            }
        }

        /** The job's assembly jar when it runs from target/ (the -all jar beside the thin jar or classes). */
        private static String assemblyJar() {
            try {
                Path code = Paths.get(GenerateJob.class.getProtectionDomain().getCodeSource().getLocation().toURI());
                if (code.getFileName().toString().endsWith("-all.jar")) {
                    return code.toString();
                }
                Path dir = code.toString().endsWith(".jar") ? code.getParent() : code.getParent();
                try (var s = Files.list(dir)) {
                    return s.map(Path::toString).filter(n -> n.endsWith("-all.jar")
                            && new File(n).getName().startsWith("ppsd-spark-job")).findFirst().orElse(null);
                }
            } catch (Exception e) {
                return null;
            }
        }

        @Override
        public void close() {
            if (owned) {
                spark.stop();
            }
        }
    }
}
