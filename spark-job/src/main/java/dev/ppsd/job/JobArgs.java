package dev.ppsd.job;

import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.SettingOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.udf.JobSettings;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The command line of {@link GenerateJob} (picocli), parsed and checked; {@link #usage()} is the {@code --help}
 * text. Besides its own flags (input, output, resume, Spark), every setting of a Spark job is a flag, derived from
 * the settings tables ({@link JobSettings#table()}): {@code --max-new-tokens 16} is
 * {@code --conf spark.ppsd.max_new_tokens=16}. A flag wins over a {@code --conf}, which wins over the Spark conf the
 * job was submitted with, which wins over the default. Every value is checked here, before Spark starts, with the
 * settings' own messages ({@code top_k must be >= 0 (0 = off) but was -1}).
 */
@Command(name = "ppsd-job", synopsisHeading = "Usage: ", sortOptions = false, usageHelpWidth = 110,
        customSynopsis = {"ppsd-job --input PATH --output DIR [options]",
            "       spark-submit --class dev.ppsd.job.GenerateJob ppsd-spark-job-<version>-all.jar --input ... --output ..."},
        description = {"", "Generates text for every row of a prompt table with the PPSD engine and writes the input columns"
                + " plus generated_text, finish_reason, prompt_tokens, new_tokens, acceptance, tokens_per_s and error."
                + " Without --master and outside spark-submit it runs Spark in local mode (local[*]) in this JVM.", "",
            "Settings (each is also --conf spark.ppsd.<name>=V): --model defaults to the bundled "
                + ModelLocation.BUNDLED + " of this repository.", ""},
        footer = {"", "Exit codes: 0 done; 2 bad arguments, model, input or output (nothing generated); 1 generation"
                + " failed (what was committed stays; a re-run resumes). The summary goes to stdout and"
                + " DIR/_SUMMARY.json."})
final class JobArgs {
    /** Prefix of the job's own confs (not settings): {@code spark.ppsd.job.<name>}. */
    static final String JOB_PREFIX = JobSettings.JOB_CONF_PREFIX;

    @Option(names = "--input", paramLabel = "PATH", description = "prompts: a file or folder of Parquet, JSON Lines,"
            + " CSV (with a header) or Arrow IPC files, or a glob of them ('day-*/'), a Hadoop URI (hdfs://,"
            + " s3a://...), or a table name")
    String input;
    @Option(names = "--input-format", paramLabel = "F", description = "parquet | jsonl | csv | arrow | table"
            + " (default: from the file extension; a name that is no path but a table of the catalog is a table)")
    private String inputFormatText;
    JobFormat inputFormat;
    @Option(names = "--output", paramLabel = "DIR", description = "result folder; created, or resumed when it exists")
    String output;
    @Option(names = "--output-format", paramLabel = "F",
            description = "parquet | jsonl | csv | arrow (default parquet, or the existing output's)")
    private String outputFormatText;
    JobFormat outputFormat;
    @Option(names = "--partitions", paramLabel = "N",
            description = "repartition the input into N partitions (default: keep the input's)")
    private String partitionsText;
    int partitions;
    @Option(names = "--partitions-per-commit", paramLabel = "N", description = "input partitions per committed part"
            + " set (default: the larger of the cluster's task slots and a tenth of the partitions); a killed run"
            + " loses at most the two part sets in flight")
    private String partitionsPerCommitText;
    int partitionsPerCommit;
    @Option(names = "--resume", description = "skip rows whose id is already in --output (the default when it exists)")
    private boolean resumeFlag;
    @Option(names = "--no-resume", description = "refuse an existing --output instead of resuming it")
    private boolean noResume;
    /** null: resume when the output exists. */
    Boolean resume;
    @Option(names = "--overwrite", description = "delete an existing --output (an earlier ppsd-job output only) first")
    boolean overwrite;
    @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: local[*], or spark-submit's)")
    String master;
    @Option(names = "--app-name", paramLabel = "NAME", defaultValue = "ppsd-generate",
            description = "application name (default ${DEFAULT-VALUE})")
    String appName;
    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "a Spark conf (spark.executor.memory=4g, ...)"
            + " or a setting spark.ppsd.<name>")
    private List<String> confs = new ArrayList<>();
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "this text")
    boolean help;

    /** Spark confs for the session (everything of --conf that is not spark.ppsd.*). */
    final Map<String, String> sparkConf = new LinkedHashMap<>();
    /** Settings given on the command line, by name, as given (text or list; checked). */
    final Map<String, Object> settings = new LinkedHashMap<>();
    /** The job's own confs (spark.ppsd.job.*), e.g. the test hooks. */
    final Map<String, String> jobConf = new LinkedHashMap<>();

    private JobArgs() {
    }

    private static CommandLine commandLine(JobArgs a) {
        CommandLine cl = new CommandLine(a);
        SettingOptions.addTo(cl.getCommandSpec(), JobSettings.table());
        return cl;
    }

    /** Parses {@code args}; throws a {@link JobException} (exit code 2) naming the bad argument. */
    static JobArgs parse(String[] args) {
        JobArgs a = new JobArgs();
        ParseResult parsed;
        try {
            parsed = commandLine(a).parseArgs(args);
        } catch (ParameterException e) {
            throw JobException.usage(e.getMessage());
        }
        if (a.help) {
            return a;
        }
        try {
            // --conf spark.ppsd.X=... first, flags over them
            for (String kv : a.confs) {
                a.conf(kv);
            }
            for (Setting<?> s : JobSettings.table()) {
                Object v = SettingOptions.given(parsed, s);
                if (v != null) {
                    s.coerce(v);
                    a.settings.put(s.name(), v);
                }
            }
        } catch (IllegalArgumentException e) {
            throw JobException.usage(e.getMessage());
        }
        a.inputFormat = a.inputFormatText == null ? null : JobFormat.parse("--input-format", a.inputFormatText, true);
        a.outputFormat = a.outputFormatText == null ? null : JobFormat.parse("--output-format", a.outputFormatText,
                false);
        a.partitions = positive("--partitions", a.partitionsText);
        a.partitionsPerCommit = positive("--partitions-per-commit", a.partitionsPerCommitText);
        if (a.resumeFlag && a.noResume) {
            throw JobException.usage("--resume and --no-resume contradict each other: pick one");
        }
        a.resume = a.resumeFlag ? Boolean.TRUE : a.noResume ? Boolean.FALSE : null;
        if (a.input == null) {
            throw JobException.usage("--input is required (a file, folder or table of prompts)");
        }
        if (a.output == null) {
            throw JobException.usage("--output is required (the folder the results go to)");
        }
        if (a.overwrite && Boolean.TRUE.equals(a.resume)) {
            throw JobException.usage("--overwrite and --resume contradict each other: pick one");
        }
        return a;
    }

    private void conf(String kv) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
            throw new IllegalArgumentException("--conf takes KEY=VALUE but was " + kv);
        }
        String key = kv.substring(0, eq).trim();
        String value = kv.substring(eq + 1);
        if (key.startsWith(JOB_PREFIX)) {
            jobConf.put(key, value);
        } else if (key.startsWith(Settings.CONF_PREFIX)) {
            Setting<?> s = JobSettings.setting(key.substring(Settings.CONF_PREFIX.length()));
            if (s == null) {
                throw new IllegalArgumentException("unknown setting " + key + " (known: " + Settings.CONF_PREFIX
                        + String.join(", " + Settings.CONF_PREFIX, JobSettings.table().stream().map(Setting::name)
                        .toList()) + ")");
            }
            s.parse(value);
            settings.put(s.name(), value);
        } else {
            sparkConf.put(key, value);
        }
    }

    private static int positive(String flag, String v) {
        if (v == null) {
            return 0;
        }
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
        return commandLine(new JobArgs()).getUsageMessage();
    }

    /** Explicit settings, unmodifiable. */
    Map<String, Object> settings() {
        return Collections.unmodifiableMap(settings);
    }
}
