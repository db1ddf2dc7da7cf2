package dev.ppsd.job;

import dev.ppsd.udf.PpsdConf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The command line of {@link GenerateJob}, parsed and checked; {@link #usage()} is the {@code --help} text.
 * Generation flags map one-to-one onto the udf's settings ({@link PpsdConf}): {@code --max-new-tokens 16} is
 * {@code --conf spark.ppsd.maxNewTokens=16}; a flag wins over a {@code --conf}, which wins over the Spark conf the
 * job was submitted with, which wins over the default. Every value is checked here, before Spark starts, and a bad
 * one is named by its flag ("--top-p must be in (0, 1] but was 2.0").
 */
final class JobArgs {
    /** Prefix of the job's own confs (not udf settings): {@code spark.ppsd.job.<name>}. */
    static final String JOB_PREFIX = PpsdConf.PREFIX + "job.";

    /** A generation flag and the udf setting it sets; {@code doc} replaces the setting's doc when the job's differs. */
    private record GenFlag(String flag, String setting, String metavar, String doc) {
        GenFlag(String flag, String setting, String metavar) {
            this(flag, setting, metavar, null);
        }
    }

    /** The generation flags, in --help order. */
    private static final List<GenFlag> GEN_FLAGS = List.of(
            new GenFlag("--model", PpsdConf.MODEL, "DIR", "model folder (config.json, model.safetensors,"
                    + " tokenizer.json): a local path every executor can read, a Hadoop URI (hdfs://, s3a://...; copied"
                    + " to each executor once) or the name of a folder shipped with --archives [" + ModelLocation.BUNDLED
                    + " of this repository]"),
            new GenFlag("--mode", PpsdConf.MODE, "M"),
            new GenFlag("--exit-layer", PpsdConf.EXIT_LAYER, "N"),
            new GenFlag("--max-new-tokens", PpsdConf.MAX_NEW_TOKENS, "N"),
            new GenFlag("--temperature", PpsdConf.TEMPERATURE, "T"),
            new GenFlag("--top-p", PpsdConf.TOP_P, "P"),
            new GenFlag("--top-k", PpsdConf.TOP_K, "K"),
            new GenFlag("--seed", PpsdConf.SEED, "S"),
            new GenFlag("--stop", PpsdConf.STOP, "STR"),
            new GenFlag("--batch-size", PpsdConf.BATCH_SIZE, "B"),
            new GenFlag("--exit-head", PpsdConf.EXIT_HEAD, "H"),
            new GenFlag("--stages", PpsdConf.STAGES, "DEVS"),
            new GenFlag("--num-stages", PpsdConf.NUM_STAGES, "K"),
            new GenFlag("--gamma", PpsdConf.GAMMA, "G"),
            new GenFlag("--prompt-too-long", PpsdConf.PROMPT_TOO_LONG, "P"),
            new GenFlag("--id-column", PpsdConf.ID_COL, "COL", "input column with a unique id per row (any type):"
                    + " derives the row's seed, names the row in errors, and tells --resume which rows are done [id]"),
            new GenFlag("--prompt-column", PpsdConf.PROMPT_COL, "COL"));

    String input;
    JobFormat inputFormat;
    String output;
    JobFormat outputFormat;
    int partitions;
    int partitionsPerCommit;
    /** null: resume when the output exists. */
    Boolean resume;
    boolean overwrite;
    String master;
    String appName = "ppsd-generate";
    boolean help;
    /** Spark confs for the session (everything of --conf that is not spark.ppsd.*). */
    final Map<String, String> sparkConf = new LinkedHashMap<>();
    /** udf settings given on the command line, by setting name, parsed and checked. */
    final Map<String, Object> settings = new LinkedHashMap<>();
    /** The job's own confs (spark.ppsd.job.*), e.g. the test hooks. */
    final Map<String, String> jobConf = new LinkedHashMap<>();
    /** Where each explicit setting came from ("--max-new-tokens" or "spark.ppsd.maxNewTokens"), for messages. */
    private final Map<String, String> origin = new LinkedHashMap<>();

    private JobArgs() {
    }

    /** Parses {@code args}; throws a {@link JobException} (exit code 2) naming the bad argument. */
    static JobArgs parse(String[] args) {
        JobArgs a = new JobArgs();
        List<String> stops = new ArrayList<>();
        Map<String, Object> fromConf = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                value = arg.substring(eq + 1);
                arg = arg.substring(0, eq);
            }
            switch (arg) {
                case "-h", "--help" -> a.help = true;
                case "--resume" -> a.resume = true;
                case "--no-resume" -> a.resume = false;
                case "--overwrite" -> a.overwrite = true;
                default -> {
                    if (!isKnown(arg)) {
                        throw JobException.usage("unknown argument " + arg + " (see --help)");
                    }
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw JobException.usage(arg + " needs a value");
                        }
                        value = args[++i];
                    }
                    a.option(arg, value, stops, fromConf);
                }
            }
        }
        // --conf spark.ppsd.X=... first, flags over them
        for (Map.Entry<String, Object> e : fromConf.entrySet()) {
            a.settings.putIfAbsent(e.getKey(), e.getValue());
        }
        if (!stops.isEmpty()) {
            a.settings.put(PpsdConf.STOP, stops.toArray(new String[0]));
            a.origin.put(PpsdConf.STOP, "--stop");
        }
        if (a.help) {
            return a;
        }
        if (a.input == null) {
            throw JobException.usage("--input is required (a file, folder or table of prompts)");
        }
        if (a.output == null) {
            throw JobException.usage("--output is required (the folder the results go to)");
        }
        if (a.overwrite && Boolean.TRUE.equals(a.resume)) {
            throw JobException.usage("--overwrite and --resume contradict each other: pick one");
        }
        if (a.outputFormat == JobFormat.TABLE) {
            throw JobException.usage("--output-format must be one of parquet, jsonl, csv, arrow but was table");
        }
        return a;
    }

    private static boolean isKnown(String flag) {
        return switch (flag) {
            case "--input", "--input-format", "--output", "--output-format", "--partitions",
                    "--partitions-per-commit", "--master", "--app-name", "--conf", "--on-error" -> true;
            default -> GEN_FLAGS.stream().anyMatch(g -> g.flag.equals(flag));
        };
    }

    private void option(String flag, String value, List<String> stops, Map<String, Object> fromConf) {
        switch (flag) {
            case "--input" -> input = nonBlank(flag, value);
            case "--output" -> output = nonBlank(flag, value);
            case "--input-format" -> inputFormat = JobFormat.parse(flag, value, true);
            case "--output-format" -> outputFormat = JobFormat.parse(flag, value, false);
            case "--partitions" -> partitions = positive(flag, value);
            case "--partitions-per-commit" -> partitionsPerCommit = positive(flag, value);
            case "--master" -> master = nonBlank(flag, value);
            case "--app-name" -> appName = nonBlank(flag, value);
            case "--on-error" -> {
                String v = value.trim().toLowerCase(Locale.ROOT);
                if (!v.equals("null") && !v.equals("fail")) {
                    throw JobException.usage("--on-error must be null (a bad row gets a message in the error column)"
                            + " or fail (the first bad row fails the job) but was " + value);
                }
                put(PpsdConf.FAIL_ON_ERROR, v.equals("fail"), flag);
            }
            case "--conf" -> conf(value, fromConf);
            case "--stop" -> {
                if (value.isEmpty()) {
                    throw JobException.usage("--stop must not be empty");
                }
                stops.add(value);
            }
            default -> {
                GenFlag g = GEN_FLAGS.stream().filter(x -> x.flag.equals(flag)).findFirst().orElseThrow();
                put(g.setting, parseSetting(g.setting, value, flag), flag);
            }
        }
    }

    private void conf(String kv, Map<String, Object> fromConf) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
            throw JobException.usage("--conf takes KEY=VALUE but was " + kv);
        }
        String key = kv.substring(0, eq).trim();
        String value = kv.substring(eq + 1);
        if (key.startsWith(JOB_PREFIX)) {
            jobConf.put(key, value);
        } else if (key.startsWith(PpsdConf.PREFIX)) {
            String name = key.substring(PpsdConf.PREFIX.length());
            if (!PpsdConf.settings().containsKey(name)) {
                throw JobException.usage("unknown setting " + key + " (known: spark.ppsd."
                        + String.join(", spark.ppsd.", PpsdConf.settings().keySet()) + ")");
            }
            fromConf.put(name, parseSetting(name, value, key));
            origin.putIfAbsent(name, key);
        } else {
            sparkConf.put(key, value);
        }
    }

    private void put(String setting, Object value, String flag) {
        settings.put(setting, value);
        origin.put(setting, flag);
    }

    /** Parses and checks one udf setting, naming it as the user wrote it ({@code flag}) when bad. */
    private static Object parseSetting(String setting, String raw, String flag) {
        try {
            Object v = PpsdConf.parse(setting, raw);
            PpsdConf.check(setting, v);
            return v;
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            m = m.replace(PpsdConf.PREFIX + setting, flag);
            if (m.startsWith(setting + " ")) {
                m = flag + m.substring(setting.length());
            }
            throw JobException.usage(m);
        }
    }

    /** How the user named {@code setting} (its flag or conf key), for messages. */
    String origin(String setting) {
        return origin.getOrDefault(setting, PpsdConf.PREFIX + setting);
    }

    private static String nonBlank(String flag, String v) {
        if (v.isBlank()) {
            throw JobException.usage(flag + " must not be empty");
        }
        return v.trim();
    }

    private static int positive(String flag, String v) {
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw JobException.usage(flag + " must be a positive integer but was " + v);
    }

    /** The --help text. */
    static String usage() {
        StringBuilder s = new StringBuilder();
        s.append("""
                Usage: ppsd-job --input PATH --output DIR [options]
                       spark-submit --class dev.ppsd.job.GenerateJob ppsd-spark-job-<version>-all.jar --input ... --output ...

                Generates text for every row of a prompt table with the PPSD engine and writes the input columns plus
                generated_text, finish_reason, prompt_tokens, new_tokens, acceptance, tokens_per_s and error.
                Without --master and outside spark-submit it runs Spark in local mode (local[*]) in this JVM.

                Input and output:
                  --input PATH                 prompts: a file or folder of Parquet, JSON Lines, CSV (with a header) or
                                               Arrow IPC files, a Hadoop URI (hdfs://, s3a://...), or a table name
                  --input-format F             parquet | jsonl | csv | arrow | table (default: from the file extension;
                                               a name that is no path but a table of the catalog is a table)
                  --output DIR                 result folder; created, or resumed when it exists
                  --output-format F            parquet | jsonl | csv | arrow (default parquet, or the existing output's)
                  --partitions N               repartition the input into N partitions (default: keep the input's)
                  --resume                     skip rows whose id is already in --output (the default when it exists)
                  --no-resume                  refuse an existing --output instead of resuming it
                  --overwrite                  delete an existing --output (an earlier ppsd-job output only) first
                  --partitions-per-commit N    input partitions per committed part set (default: the larger of the
                                               cluster's task slots and a tenth of the partitions); a killed run loses
                                               at most the two part sets in flight
                  --on-error null|fail         a bad row gets null results and a message in error (null, the default),
                                               or the first bad row fails the job (fail)

                Generation (each is also --conf spark.ppsd.<setting>=V; defaults in brackets):
                """);
        for (GenFlag g : GEN_FLAGS) {
            PpsdConf.Setting st = PpsdConf.setting(g.setting);
            Object d = st.defaultValue();
            String doc = g.doc != null ? g.doc
                    : st.doc() + " [" + (d instanceof String[] a ? String.join(",", a) : String.valueOf(d)) + "]";
            String head = String.format("  %-29s", g.flag + " " + g.metavar);
            s.append(head).append(wrap(doc + " (" + g.setting + ")", 31, 110)).append('\n');
        }
        s.append("""

                Spark:
                  --master URL                 Spark master (default: local[*], or spark-submit's --master)
                  --app-name NAME              application name [ppsd-generate]
                  --conf KEY=VALUE             a Spark conf (spark.executor.memory=4g, ...) or a udf setting
                                               spark.ppsd.<setting> (also outputs: spark.ppsd.generatedTextCol, ...)
                  -h, --help                   this text

                Exit codes: 0 done; 2 bad arguments, model, input or output (nothing generated); 1 generation failed
                (what was committed stays; a re-run resumes). The summary goes to stdout and DIR/_SUMMARY.json.
                """);
        return s.toString();
    }

    private static String wrap(String text, int indent, int width) {
        StringBuilder out = new StringBuilder();
        int col = indent;
        for (String w : text.split(" ")) {
            if (col + w.length() + 1 > width && col > indent) {
                out.append('\n').append(" ".repeat(indent));
                col = indent;
            } else if (col > indent) {
                out.append(' ');
                col++;
            }
            out.append(w);
            col += w.length();
        }
        return out.toString();
    }

    /** Explicit settings, unmodifiable. */
    Map<String, Object> settings() {
        return Collections.unmodifiableMap(settings);
    }
}
