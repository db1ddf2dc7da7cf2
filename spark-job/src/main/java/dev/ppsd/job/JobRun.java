package dev.ppsd.job;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.udf.JobOptions;
import dev.ppsd.udf.JobSettings;
import dev.ppsd.udf.OutputColumns;
import dev.ppsd.udf.PpsdGenerator;
import dev.ppsd.udf.TaskGpus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.rdd.PartitionPruningRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import scala.runtime.AbstractFunction1;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.ThreadLocalRandom;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

/**
 * One run of {@link GenerateJob} on a Spark session, top to bottom: check everything, work out which rows are
 * missing from the output, generate them part set by part set (two in flight), commit and publish each, summarise.
 */
final class JobRun {
    /** Part sets generated at the same time: while one finishes its last tasks, the next keeps the cores busy. */
    static final int PART_SETS_IN_FLIGHT = 2;
    /** Done ids up to this many are broadcast to the anti-join (which then keeps the input's partitioning). */
    static final long BROADCAST_DONE_IDS = 2_000_000;
    private static final String DONE_ID = "__ppsd_done_id";

    private final SparkSession spark;
    private final JobArgs a;
    private final Map<String, Object> explicit;
    private final String master;
    private final PrintStream out;
    private final PrintStream err;
    private final long t0 = System.nanoTime();
    private final Instant started = Instant.now();
    /** Part files this run committed and published so far (filled by the part-set threads). */
    private final List<String> committed = Collections.synchronizedList(new ArrayList<>());
    /** What recovery did with a killed run's part sets. */
    private final List<String> recovered = new ArrayList<>();
    private final String runId = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'", Locale.ROOT)
            .withZone(ZoneOffset.UTC).format(Instant.now()) + String.format("-%04x", ThreadLocalRandom.current()
            .nextInt(0x10000));

    JobRun(SparkSession spark, JobArgs a, Map<String, Object> explicit, String master, PrintStream out,
            PrintStream err) {
        this.spark = spark;
        this.a = a;
        this.explicit = explicit;
        this.master = master;
        this.out = out;
        this.err = err;
    }

    void execute() {
        // check: settings, output, input, columns, ids -- nothing is written before all of them pass
        PpsdGenerator gen = generator();
        JobSettings s;
        try {
            s = gen.settings(true);
        } catch (IllegalArgumentException e) {
            throw JobException.usage(e.getMessage());
        }
        OutputDir output = OutputDir.inspect(spark, a);
        JobInput input = JobInput.open(spark, a);
        StructType schema = input.rows().schema();
        String idCol = s.job().get(JobOptions.ID_COL);
        JobInput.checkColumns(schema, s.job().get(JobOptions.PROMPT_COL), s.job().get(JobOptions.MESSAGES_COL), idCol);
        if (output.format() == JobFormat.CSV) {
            JobInput.checkCsvWritable(schema);
        }
        checkResultColumns(schema, s);
        try {
            gen.transformSchema(schema);
        } catch (IllegalArgumentException e) {
            throw JobException.usage(e.getMessage());
        }
        // the checks of the columns passed: an embedded run warms its write path while it checks the rest
        OutputWarmUp warmUp = OutputWarmUp.start(spark, gen, output.format(), schema, group() + "-warm-up");
        boolean generated = false;
        try {
            checkAndGenerate(gen, s, output, input, idCol);
            generated = true;
        } finally {
            if (warmUp != null) {
                warmUp.finish(!generated);
            }
        }
    }

    /** The checks that read the input and the output, then the generation of the pending rows. */
    private void checkAndGenerate(PpsdGenerator gen, JobSettings s, OutputDir output, JobInput input, String idCol) {
        JsonObject identity = identity(s);
        identity.addProperty("model_fingerprint", ModelFingerprint.of(s.engine().get(Settings.MODEL),
                spark.sparkContext().hadoopConfiguration()));
        output.checkSameIdentity(identity, a.output);
        long inputRows = checkIds(input, idCol);

        // prepare the output: delete for --overwrite, finish or remove a killed run's part sets, write the marker
        try {
            for (String note : output.prepare(identity)) {
                err.println(GenerateJob.NAME + ": " + note);
                recovered.add(note);
            }
        } catch (IOException e) {
            throw JobException.usage("cannot prepare output " + a.output + ": " + e.getMessage());
        }

        // every check passed: with a local master this JVM runs the tasks, so the engine opens while Spark plans
        Thread opening = openAhead(s);
        try {
            generatePending(gen, s, output, input, idCol, inputRows);
        } finally {
            if (opening != null) {
                try {
                    opening.join(); // (a JVM that exits while the engine loads may crash in native code)
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * Opens the engine ahead of the first task when the tasks run in this JVM (a local master) and ask for no GPUs
     * (a task's GPUs choose its engine's devices); null when it does not.
     */
    private Thread openAhead(JobSettings s) {
        boolean local = spark.sparkContext().isLocal();
        boolean gpus = spark.sparkContext().getConf().contains("spark.task.resource." + TaskGpus.GPU + ".amount");
        return local && !gpus ? s.handle().openAhead() : null;
    }

    /** Generates and commits the input rows that are not in the output yet, then writes the summary. */
    private void generatePending(PpsdGenerator gen, JobSettings s, OutputDir output, JobInput input, String idCol,
            long inputRows) {
        // the rows still missing: the input minus the ids in the published part files
        Dataset<Row> done = output.doneIds(idCol);
        long doneRows = done == null ? 0 : done.count();
        Dataset<Row> pending = input.rows();
        if (done != null) {
            Dataset<Row> ids = done.withColumnRenamed("id", DONE_ID);
            int partitions = pending.rdd().getNumPartitions();
            pending = pending.join(doneRows <= BROADCAST_DONE_IDS ? broadcast(ids) : ids,
                    pending.col(idCol).cast("string").equalTo(ids.col(DONE_ID)), "left_anti");
            if (doneRows > BROADCAST_DONE_IDS) {
                pending = pending.repartition(partitions);
            }
        }
        pending = pending.persist(StorageLevel.MEMORY_AND_DISK());
        try {
            JavaRDD<Row> base = pending.toJavaRDD();
            long[] perPartition = countPerPartition(base);
            long pendingRows = Arrays.stream(perPartition).sum();
            List<int[]> sets = partSets(perPartition);
            err.println(String.format(Locale.ROOT, "%s: %d input rows, %d already in the output, %d to generate in %d"
                    + " part set%s; output %s (%s)", GenerateJob.NAME, inputRows, inputRows - pendingRows, pendingRows,
                    sets.size(), sets.size() == 1 ? "" : "s", output.root(), output.format().wire));

            // generate and commit, part set by part set
            long g0 = System.nanoTime();
            try (ProgressReporter progress = new ProgressReporter(err, System.console() != null, pendingRows,
                    sets.size())) {
                try {
                    generate(gen, output, base, pending.schema(), sets, perPartition, progress);
                } catch (JobException e) {
                    boolean stopped = GenerateJob.stopping();
                    writeSummary(output, s, stopped ? "stopped" : "failed", stopped ? GenerateJob.STOPPED
                            : e.getMessage(), inputRows, pendingRows, doneRows, progress.counts(),
                            progress.speculation(), g0, sets.size());
                    throw e;
                }
                Map<String, Object> summary = writeSummary(output, s, "ok", null, inputRows, pendingRows, doneRows,
                        progress.counts(), progress.speculation(), g0, sets.size());
                progress.close();
                print(summary, output);
            }
        } finally {
            pending.unpersist();
        }
    }

    /** The generator with the explicit settings (flags and --conf spark.ppsd.*); the rest from the Spark conf. */
    private PpsdGenerator generator() {
        return new PpsdGenerator().setParams(explicit);
    }

    /**
     * What a row's text and the output's columns depend on: a resumed output must have been made with the same. Every
     * engine and request setting but {@code batch_size} (which never changes a row's text), and the columns (the
     * caller adds the model's fingerprint).
     */
    private static JsonObject identity(JobSettings s) {
        JsonObject o = new JsonObject();
        for (Setting<?> st : Settings.all()) {
            if (st != Settings.BATCH_SIZE) {
                o.addProperty(st.name(), text(st, st.scope() == Setting.Scope.ENGINE ? s.engine() : s.defaults()));
            }
        }
        o.addProperty("id_col", s.job().get(JobOptions.ID_COL));
        o.addProperty("prompt_col", s.job().get(JobOptions.PROMPT_COL));
        o.addProperty("messages_col", s.job().get(JobOptions.MESSAGES_COL));
        o.addProperty("result_columns", String.join(",", s.job().output(false, false, false, false).names()));
        return o;
    }

    private static <T> String text(Setting<T> st, dev.ppsd.engine.settings.SettingValues<?> values) {
        return st.format(values.get(st));
    }

    /** An input column named like a result column: name the conf that renames the result column. */
    private static void checkResultColumns(StructType schema, JobSettings s) {
        List<String> in = Arrays.asList(schema.fieldNames());
        for (Setting<String> col : JobOptions.outputSettings()) {
            String name = s.job().get(col);
            if (in.contains(name)) {
                throw JobException.usage("input column '" + name + "' has the name of a result column;"
                        + " rename it in the input or pass " + col.flag() + " OTHER_NAME");
            }
        }
    }

    /** Counts the input and fails on a null or duplicate id, naming a few; returns the row count. */
    private long checkIds(JobInput input, String idCol) {
        try {
            // one pass over the input: the rows, the rows without an id and the ids given to more than one row; the
            // examples of duplicates only when there are some
            Dataset<Row> perId = input.rows().groupBy(col(idCol).as("k")).count();
            Row totals = perId.agg(sum(col("count")), sum(when(col("k").isNull(), col("count"))),
                    sum(when(col("k").isNotNull().and(col("count").gt(1)), 1).otherwise(0))).first();
            long rows = totals.isNullAt(0) ? 0 : totals.getLong(0);
            if (!totals.isNullAt(1)) {
                throw JobException.usage("input has " + totals.getLong(1) + " rows with a null id (column '" + idCol
                        + "'); every row needs a unique id");
            }
            if (!totals.isNullAt(2) && totals.getLong(2) > 0) {
                List<Row> bad = perId.filter(col("k").isNotNull().and(col("count").gt(1)))
                        .orderBy(col("count").desc()).limit(6).collectAsList();
                List<String> ex = new ArrayList<>();
                for (Row r : bad.subList(0, Math.min(5, bad.size()))) {
                    ex.add("'" + r.get(0) + "' (" + r.getLong(1) + " rows)");
                }
                throw JobException.usage("duplicate ids in input column '" + idCol + "': " + String.join(", ", ex)
                        + (bad.size() > 5 ? ", ..." : "") + "; every row needs a unique id");
            }
            return rows;
        } catch (JobException e) {
            throw e;
        } catch (Exception e) {
            input.checkJsonLines(spark.sparkContext().hadoopConfiguration()); // (a JSON null line passes inference)
            throw JobException.usage("cannot read input " + input.description() + ": " + GenerateJob.reason(e));
        }
    }

    private static long[] countPerPartition(JavaRDD<Row> rows) {
        List<long[]> counts = rows.mapPartitionsWithIndex((i, it) -> {
            long n = 0;
            while (it.hasNext()) {
                it.next();
                n++;
            }
            return Collections.singletonList(new long[] {i, n}).iterator();
        }, true).collect();
        long[] out = new long[rows.getNumPartitions()];
        for (long[] c : counts) {
            out[(int) c[0]] = c[1];
        }
        return out;
    }

    /**
     * The part sets: consecutive non-empty input partitions, {@code --partitions-per-commit} at a time (default:
     * the larger of the task slots and a tenth of the partitions, so a part set fills the cluster and a run makes
     * about ten of them).
     */
    private List<int[]> partSets(long[] perPartition) {
        List<Integer> nonEmpty = new ArrayList<>();
        for (int i = 0; i < perPartition.length; i++) {
            if (perPartition[i] > 0) {
                nonEmpty.add(i);
            }
        }
        int per = a.partitionsPerCommit > 0 ? a.partitionsPerCommit
                : Math.max(spark.sparkContext().defaultParallelism(), (nonEmpty.size() + 9) / 10);
        List<int[]> sets = new ArrayList<>();
        for (int from = 0; from < nonEmpty.size(); from += per) {
            sets.add(nonEmpty.subList(from, Math.min(nonEmpty.size(), from + per)).stream().mapToInt(x -> x).toArray());
        }
        return sets;
    }

    /** Generates, commits and publishes every part set, {@link #PART_SETS_IN_FLIGHT} at a time. */
    private void generate(PpsdGenerator gen, OutputDir output, JavaRDD<Row> base, StructType schema,
            List<int[]> sets, long[] perPartition, ProgressReporter progress) {
        if (sets.isEmpty()) {
            return;
        }
        SparkContext sc = spark.sparkContext();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(PART_SETS_IN_FLIGHT, sets.size()), r -> {
            Thread t = new Thread(r, "ppsd-job-part-set");
            t.setDaemon(true);
            return t;
        });
        CompletionService<Integer> done = new ExecutorCompletionService<>(pool);
        Map<String, String> jobConf = jobConf();
        // the first failure stops new part sets; those already running finish and commit what they can
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int k = 0; k < sets.size(); k++) {
            int setNo = k;
            int[] parts = sets.get(k);
            done.submit(() -> {
                if (failure.get() != null) {
                    return -1;
                }
                try {
                    runPartSet(setNo, parts, gen, output, base, schema, perPartition, progress, jobConf);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
                return setNo;
            });
        }
        try {
            for (int i = 0; i < sets.size(); i++) {
                done.take().get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sc.cancelJobGroup(group());
            throw JobException.failed("interrupted", e);
        } catch (ExecutionException e) {
            failure.compareAndSet(null, e.getCause());
        } finally {
            pool.shutdownNow();
        }
        Throwable f = failure.get();
        if (f != null) {
            Throwable cause = f instanceof UncheckedIOException u ? u.getCause() : f;
            throw JobException.failed("generation failed: " + GenerateJob.reason(cause) + " (committed part sets are"
                    + " kept: a re-run resumes)", cause);
        }
    }

    /**
     * One part set: its input partitions of the pending rows (pruned, not filtered: no task runs for the other
     * partitions), generated, written to its staging folder by Spark's committer (then _SUCCESS), published.
     */
    private void runPartSet(int setNo, int[] parts, PpsdGenerator gen, OutputDir output, JavaRDD<Row> base,
            StructType schema, long[] perPartition, ProgressReporter progress, Map<String, String> jobConf)
            throws IOException {
        spark.sparkContext().setJobGroup(group(), "ppsd part set " + setNo + " of run " + runId, true);
        JavaRDD<Row> rows = PartitionPruningRDD.create(base.rdd(), new InSet(parts)).toJavaRDD();
        PpsdGenerator g = gen.copy(ParamMap.empty());
        Dataset<Row> generated = g.transform(spark.createDataFrame(rows, schema));
        progress.track(g.metrics());
        TestHooks hooks = TestHooks.of(jobConf, parts);
        if (hooks != null) {
            generated = generated.mapPartitions(hooks, Encoders.row(generated.schema()));
        }
        Path staged = output.staging(runId, setNo);
        output.write(generated, staged);
        List<Path> files = output.publish(staged);
        files.forEach(f -> committed.add(f.toString()));
        long n = 0;
        for (int p : parts) {
            n += perPartition[p];
        }
        progress.committed(setNo, files.size(), n);
    }

    private String group() {
        return "ppsd-" + runId;
    }

    /** The job's own confs: --conf spark.ppsd.job.* over the session's. */
    private Map<String, String> jobConf() {
        Map<String, String> c = new LinkedHashMap<>();
        for (scala.Tuple2<String, String> kv : spark.sparkContext().getConf().getAll()) {
            if (kv._1().startsWith(JobArgs.JOB_PREFIX)) {
                c.put(kv._1(), kv._2());
            }
        }
        c.putAll(a.jobConf);
        return c;
    }

    /** A partition filter for {@link PartitionPruningRDD}: the partitions of one part set. */
    private static final class InSet extends AbstractFunction1<Object, Object> implements Serializable {
        private final int[] sorted;

        InSet(int[] partitions) {
            sorted = partitions.clone();
            Arrays.sort(sorted);
        }

        @Override
        public Object apply(Object partition) {
            return Arrays.binarySearch(sorted, (Integer) partition) >= 0;
        }
    }

    /** Writes {@code _SUMMARY.json} from this run's committed part files and the accumulators; returns it. */
    private Map<String, Object> writeSummary(OutputDir output, JobSettings s, String status, String error,
            long inputRows, long pendingRows, long doneRows, long[] counts, Map<String, String> learned, long g0,
            int partSets) {
        // generation ends with the last commit; counting the committed rows for this summary is not part of it
        double gen = (System.nanoTime() - g0) / 1e9;
        List<String> files = new ArrayList<>(committed);
        long ok = 0;
        long failed = 0;
        long promptTokens = 0;
        long newTokens = 0;
        String countedFrom = "output";
        if (!files.isEmpty()) {
            try {
                OutputColumns cols = s.job().output(false, false, false, false);
                Row r = output.read(files).agg(count(lit(1)),
                        sum(when(col(cols.error()).isNull(), 1).otherwise(0)),
                        sum(col(cols.promptTokens()).cast("long")),
                        sum(col(cols.newTokens()).cast("long"))).first();
                ok = r.isNullAt(1) ? 0 : r.getLong(1);
                failed = r.getLong(0) - ok;
                promptTokens = r.isNullAt(2) ? 0 : r.getLong(2);
                newTokens = r.isNullAt(3) ? 0 : r.getLong(3);
            } catch (Exception e) {
                // the rows are committed; only the count failed: fall back to the accumulators (when a signal stops
                // the run, Spark is gone: that is no news)
                if (!GenerateJob.stopping()) {
                    err.println(GenerateJob.NAME + ": warning: cannot count the committed rows (" + GenerateJob.reason(
                            e) + "); the summary counts from the accumulators");
                }
                countedFrom = "accumulators";
                ok = counts[0] - counts[1];
                failed = counts[1];
                newTokens = counts[2];
            }
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", status);
        if (error != null) {
            m.put("error", error);
        }
        m.put("output", output.root().toString());
        m.put("output_format", output.format().wire);
        m.put("input", a.input);
        m.put("rows_input", inputRows);
        m.put("rows_skipped", inputRows - pendingRows);
        m.put("rows_ok", ok);
        m.put("rows_failed", failed);
        m.put("rows_in_output", doneRows + ok + failed);
        m.put("prompt_tokens", promptTokens);
        m.put("new_tokens", newTokens);
        m.put("tokens_per_s", round(gen > 0 ? newTokens / gen : 0));
        m.put("acceptance", counts[3] == 0 ? null : round((double) counts[4] / counts[3]));
        m.put("drafts_proposed", counts[3]);
        m.put("drafts_accepted", counts[4]);
        if (!learned.isEmpty()) {
            m.put("speculation", learned);
        }
        m.put("counted_from", countedFrom);
        m.put("part_sets", partSets);
        m.put("wall_s", round(wall));
        m.put("generation_s", round(gen));
        m.put("run_id", runId);
        m.put("started", started.toString());
        m.put("finished", Instant.now().toString());
        Map<String, Object> settings = new LinkedHashMap<>();
        for (Setting<?> st : JobSettings.table()) {
            settings.put(st.name(), st.scope() == Setting.Scope.ENGINE ? s.engine().get(st)
                    : st.scope() == Setting.Scope.REQUEST ? s.defaults().get(st) : s.job().get(st));
        }
        settings.put("partitions", a.partitions > 0 ? a.partitions : "input");
        settings.put("master", master);
        m.put("settings", settings);
        if (!recovered.isEmpty()) {
            m.put("recovered", recovered);
        }
        try {
            output.writeSummary(m);
        } catch (IOException e) {
            err.println(GenerateJob.NAME + ": warning: cannot write " + OutputDir.SUMMARY + ": " + e.getMessage());
        }
        return m;
    }

    private void print(Map<String, Object> m, OutputDir output) {
        @SuppressWarnings("unchecked")
        Map<String, Object> st = (Map<String, Object>) m.get("settings");
        long ok = (Long) m.get("rows_ok");
        long failed = (Long) m.get("rows_failed");
        out.printf(Locale.ROOT, "%s: wrote %d rows to %s (%s)%n", GenerateJob.NAME, ok + failed, output.root(),
                output.format().wire);
        out.printf(Locale.ROOT, "  rows      %d ok, %d failed, %d skipped (already in the output); %d in the output%n",
                ok, failed, (Long) m.get("rows_skipped"), (Long) m.get("rows_in_output"));
        Object acc = m.get("acceptance");
        out.printf(Locale.ROOT, "  tokens    %d prompt, %d generated, %.1f tokens/s, acceptance %s%n",
                (Long) m.get("prompt_tokens"), (Long) m.get("new_tokens"), (Double) m.get("tokens_per_s"),
                acc == null ? "n/a (no drafts)" : String.format(Locale.ROOT, "%.2f", (Double) acc));
        @SuppressWarnings("unchecked")
        Map<String, String> learned = (Map<String, String>) m.get("speculation");
        if (learned != null) {
            learned.forEach((executor, summary) -> out.printf(Locale.ROOT, "  auto      %s%s%n",
                    learned.size() == 1 ? "" : "executor " + executor + ": ", summary));
        }
        int sets = (Integer) m.get("part_sets");
        out.printf(Locale.ROOT, "  time      %.1f s wall, %.1f s generating, %d part set%s%n", (Double) m.get("wall_s"),
                (Double) m.get("generation_s"), sets, sets == 1 ? "" : "s");
        out.printf(Locale.ROOT, "  settings  mode=%s max_new_tokens=%s temperature=%s top_k=%s top_p=%s seed=%s"
                + " batch_size=%s fail_on_error=%s%n", st.get("mode"), st.get("max_new_tokens"), st.get("temperature"),
                st.get("top_k"), st.get("top_p"), st.get("seed"), st.get("batch_size"), st.get("fail_on_error"));
        out.printf(Locale.ROOT, "  model     %s%n", st.get("model"));
        out.printf(Locale.ROOT, "  master    %s%n", st.get("master"));
        out.printf(Locale.ROOT, "  summary   %s%n", new Path(output.root(), OutputDir.SUMMARY));
        out.flush();
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }
}
