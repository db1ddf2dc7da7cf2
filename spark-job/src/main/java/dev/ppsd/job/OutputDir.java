package dev.ppsd.job;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import static org.apache.spark.sql.functions.col;

/**
 * The output folder and how rows get into it so that a run killed at any moment leaves no half-written file where
 * readers look and the next run writes every missing id exactly once.
 *
 * <pre>
 * DIR/part-*.parquet              published part files: the result table (readers read DIR; _ and . names are hidden)
 * DIR/_SUMMARY.json               the last run's summary
 * DIR/_ppsd/job.json              what this output is: format, columns, and the settings that decide the text
 * DIR/_ppsd/staging/RUN-NNNN/     a part set being written by Spark's committer, _SUCCESS once committed
 * </pre>
 *
 * A run splits the rows still missing into part sets. Each part set is written to its own staging folder through
 * Spark's normal file committer (task output stays under {@code _temporary} until the job commits; {@code _SUCCESS}
 * comes last), then <em>published</em>: its part files are renamed into DIR one by one (each rename shows a whole
 * file) and the staging folder is deleted. On the next run, {@link #recover} finishes what a kill interrupted: a
 * staging folder with {@code _SUCCESS} is published (roll forward: its rows are committed), one without is deleted
 * (its rows were never visible and are generated again). Then the ids in DIR's part files are the rows done; the run
 * generates the others. Every id is thus in exactly one published part file, and because a row's seed derives from
 * (job seed, row id), its text is the same whichever run generated it. One run at a time per output folder.
 */
final class OutputDir {
    static final String META = "_ppsd";
    static final String MARKER = "job.json";
    static final String STAGING = "staging";
    static final String SUMMARY = "_SUMMARY.json";
    static final String SUCCESS = "_SUCCESS";
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping()
            .create();

    /** What to do with what is there. */
    enum Mode { FRESH, RESUME, OVERWRITE }

    private final SparkSession spark;
    private final FileSystem fs;
    private final Path root;
    private final Mode mode;
    private final JobFormat format;
    private final JsonObject marker;

    private OutputDir(SparkSession spark, FileSystem fs, Path root, Mode mode, JobFormat format, JsonObject marker) {
        this.spark = spark;
        this.fs = fs;
        this.root = root;
        this.mode = mode;
        this.format = format;
        this.marker = marker;
    }

    /**
     * Looks at {@code output} without changing anything: a file, a folder that is not an earlier output of this job,
     * an existing output with --no-resume or of another format are errors.
     */
    static OutputDir inspect(SparkSession spark, JobArgs a) {
        Path root = new Path(a.output);
        try {
            FileSystem fs = root.getFileSystem(spark.sparkContext().hadoopConfiguration());
            root = fs.makeQualified(root);
            JobFormat requested = a.outputFormat;
            if (!fs.exists(root)) {
                return new OutputDir(spark, fs, root, Mode.FRESH, requested == null ? JobFormat.PARQUET : requested, null);
            }
            if (!fs.getFileStatus(root).isDirectory()) {
                throw JobException.usage("output " + a.output + " is a file; --output must be a folder");
            }
            Path markerFile = new Path(new Path(root, META), MARKER);
            if (!fs.exists(markerFile)) {
                FileStatus[] there = fs.listStatus(root);
                // a run killed between creating the folder and writing the marker leaves an empty _ppsd/ only
                boolean onlyOurEmptyMeta = there.length == 1 && there[0].getPath().getName().equals(META)
                        && there[0].isDirectory() && fs.listStatus(there[0].getPath()).length == 0;
                if (there.length > 0 && !onlyOurEmptyMeta) {
                    throw JobException.usage("output " + a.output + " is a folder that is not empty and holds no earlier"
                            + " ppsd-job output (no " + META + "/" + MARKER + "); pick a new or empty folder");
                }
                return new OutputDir(spark, fs, root, Mode.FRESH, requested == null ? JobFormat.PARQUET : requested, null);
            }
            JsonObject m = JsonParser.parseString(HadoopFiles.read(fs, markerFile)).getAsJsonObject();
            JobFormat existing = JobFormat.parse("format of " + markerFile, m.get("format").getAsString(), false);
            if (a.overwrite) {
                return new OutputDir(spark, fs, root, Mode.OVERWRITE, requested == null ? JobFormat.PARQUET : requested,
                        m);
            }
            if (Boolean.FALSE.equals(a.resume)) {
                throw JobException.usage("output " + a.output + " already holds results of an earlier run; pass"
                        + " --resume to continue it or --overwrite to replace it");
            }
            if (requested != null && requested != existing) {
                throw JobException.usage("output " + a.output + " holds " + existing.wire + " part files, not "
                        + requested.wire + ": drop --output-format to continue it, or pick another --output");
            }
            return new OutputDir(spark, fs, root, Mode.RESUME, existing, m);
        } catch (IOException e) {
            throw JobException.usage("cannot use output " + a.output + ": " + e.getMessage());
        }
    }

    Mode mode() {
        return mode;
    }

    JobFormat format() {
        return format;
    }

    /** The folder, qualified (file:/..., hdfs://...). */
    Path root() {
        return root;
    }

    /**
     * On resume: the output must have been made with the same {@code identity} (format, columns and the settings
     * that decide a row's text), else the rows of the two runs would not belong together.
     */
    void checkSameIdentity(JsonObject identity, String output) {
        if (mode != Mode.RESUME) {
            return;
        }
        JsonObject was = marker.getAsJsonObject("identity");
        List<String> diffs = new ArrayList<>();
        TreeSet<String> keys = new TreeSet<>(identity.keySet());
        if (was != null) {
            keys.addAll(was.keySet());
        }
        for (String k : keys) {
            JsonElement before = was == null ? null : was.get(k);
            JsonElement now = identity.get(k);
            if (before == null ? now != null : !before.equals(now)) {
                diffs.add(k + " was " + before + ", now " + now);
            }
        }
        if (!diffs.isEmpty()) {
            throw JobException.usage("output " + output + " was generated with other settings (" + String.join("; ",
                    diffs) + "): run with the same settings to resume it, or pass --overwrite or another --output");
        }
    }

    /**
     * Makes the folder ready: deletes it first for --overwrite, creates it, finishes or removes the part sets of a
     * killed run ({@link #recover}) and writes the marker. Returns what recovery did, one line per part set.
     */
    List<String> prepare(JsonObject identity) throws IOException {
        if (mode == Mode.OVERWRITE) {
            // the marker goes last: a kill part-way leaves a (smaller) output of this job, never a foreign folder
            Path meta = new Path(root, META);
            for (FileStatus f : fs.listStatus(root)) {
                if (!f.getPath().getName().equals(META)) {
                    fs.delete(f.getPath(), true);
                }
            }
            fs.delete(new Path(meta, STAGING), true);
            if (!fs.delete(meta, true)) {
                throw new IOException("cannot delete " + meta);
            }
        }
        fs.mkdirs(new Path(root, META));
        List<String> notes = mode == Mode.RESUME ? recover() : List.of();
        if (mode != Mode.RESUME) {
            JsonObject m = new JsonObject();
            m.addProperty("format", format.wire);
            m.add("identity", identity);
            m.addProperty("created", java.time.Instant.now().toString());
            HadoopFiles.writeAtomically(fs, new Path(new Path(root, META), MARKER), GSON.toJson(m) + "\n");
        }
        return notes;
    }

    /** Publishes the committed part sets a killed run left in staging and deletes the uncommitted ones. */
    List<String> recover() throws IOException {
        Path staging = new Path(new Path(root, META), STAGING);
        List<String> notes = new ArrayList<>();
        if (!fs.exists(staging)) {
            return notes;
        }
        FileStatus[] sets = fs.listStatus(staging);
        Arrays.sort(sets);
        for (FileStatus s : sets) {
            if (fs.exists(new Path(s.getPath(), SUCCESS))) {
                List<Path> files = publish(s.getPath());
                notes.add("published part set " + s.getPath().getName() + " (" + files.size()
                        + " files) that an earlier run committed but had not published");
            } else {
                fs.delete(s.getPath(), true);
                notes.add("removed part set " + s.getPath().getName() + " that an earlier run left unfinished");
            }
        }
        return notes;
    }

    /** The staging folder of part set {@code k} of run {@code runId}. */
    Path staging(String runId, int k) {
        return new Path(new Path(new Path(root, META), STAGING), String.format("%s-%04d", runId, k));
    }

    /**
     * Writes {@code rows} as a committed part set into {@code staged} (which must not exist). When the write
     * returns, Spark's job commit is done; {@code _SUCCESS} is added if the cluster's committer was told not to
     * write it ({@code mapreduce.fileoutputcommitter.marksuccessfuljobs=false}), since recovery trusts it.
     */
    void write(Dataset<Row> rows, Path staged) throws IOException {
        format.write(rows, staged.toString());
        Path success = new Path(staged, SUCCESS);
        if (!fs.exists(success)) {
            fs.create(success, false).close();
        }
    }

    /**
     * Moves the part files of the committed part set {@code staged} into the output folder (each rename shows one
     * whole file; files a killed publish already moved are not there any more) and deletes it. Returns the files.
     */
    List<Path> publish(Path staged) throws IOException {
        List<Path> moved = new ArrayList<>();
        for (FileStatus f : fs.listStatus(staged)) {
            String name = f.getPath().getName();
            if (f.isFile() && format.isPartFile(name)) {
                Path dst = new Path(root, name);
                if (!fs.rename(f.getPath(), dst)) {
                    throw new IOException("cannot move " + f.getPath() + " to " + dst);
                }
                moved.add(dst);
            }
        }
        fs.delete(staged, true);
        return moved;
    }

    /** The published part files. */
    List<String> partFiles() {
        try {
            List<String> out = new ArrayList<>();
            for (FileStatus f : fs.listStatus(root)) {
                if (f.isFile() && format.isPartFile(f.getPath().getName())) {
                    out.add(f.getPath().toString());
                }
            }
            out.sort(null);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The rows of {@code files} (part files of this output). */
    Dataset<Row> read(List<String> files) {
        return format.read(spark, files);
    }

    /** The ids in the published part files, as strings in column {@code id}; null when there are none. */
    Dataset<Row> doneIds(String idCol) {
        List<String> files = partFiles();
        if (files.isEmpty()) {
            return null;
        }
        Dataset<Row> rows = format == JobFormat.JSONL
                // a string schema reads numbers as their JSON text, as a cast would, without a full inference pass
                ? spark.read().schema(new StructType().add(idCol, DataTypes.StringType)).json(files.toArray(new String[0]))
                : read(files);
        if (!Arrays.asList(rows.schema().fieldNames()).contains(idCol)) {
            throw JobException.usage("output " + root + " has no id column '" + idCol + "'");
        }
        return rows.select(col(idCol).cast("string").as("id"));
    }

    /** Writes {@code DIR/_SUMMARY.json}. */
    void writeSummary(Map<String, Object> summary) throws IOException {
        fs.mkdirs(root);
        HadoopFiles.writeAtomically(fs, new Path(root, SUMMARY), GSON.toJson(summary) + "\n");
    }
}
