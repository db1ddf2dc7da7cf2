package dev.ppsd.job;

import dev.ppsd.udf.JobOptions;
import dev.ppsd.udf.PpsdGenerator;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The write path of an embedded run, warmed while the run still checks and counts its input: one row without a
 * prompt goes through the generator (its row error never reaches the engine) and the job's output format into a
 * scratch folder outside the output, which is then deleted. The first part set's task then finds the classes of the
 * writer, its compression codec and the row conversions loaded and their code generated, instead of loading them
 * between its first and last rows (measured: about 0.5 s of a 6 s part set on the bundled model, docs/benchmarks.md).
 * Only with a local master, where that task runs in this JVM; what fails here is ignored (the part set meets it
 * again and reports it).
 */
final class OutputWarmUp {
    /** The scratch folder's name starts with this, in {@code java.io.tmpdir}. */
    static final String SCRATCH_PREFIX = "ppsd-warm-up-";

    private final Thread thread;
    private final Path scratch;
    private final String group;
    private final SparkSession spark;

    private OutputWarmUp(SparkSession spark, Thread thread, Path scratch, String group) {
        this.spark = spark;
        this.thread = thread;
        this.scratch = scratch;
        this.group = group;
    }

    /** Starts warming in the background; null when the tasks do not run in this JVM. */
    static OutputWarmUp start(SparkSession spark, PpsdGenerator gen, JobFormat format, StructType schema,
            String group) {
        if (!spark.sparkContext().isLocal()) {
            return null;
        }
        Path scratch;
        try {
            scratch = Files.createTempDirectory(SCRATCH_PREFIX);
        } catch (IOException e) {
            return null;
        }
        // a row of nulls: prompt and messages null make it a row error (whatever fail_on_error the job has)
        PpsdGenerator g = gen.copy(ParamMap.empty()).setParam(JobOptions.FAIL_ON_ERROR.name(), false);
        StructType nullable = new StructType(Stream.of(schema.fields())
                .map(f -> new StructField(f.name(), f.dataType(), true, f.metadata())).toArray(StructField[]::new));
        Thread t = new Thread(() -> {
            try {
                spark.sparkContext().setJobGroup(group, "ppsd: warming the output path", true);
                List<Row> rows = List.of(RowFactory.create(new Object[schema.size()]));
                format.write(g.transform(spark.createDataFrame(
                        new JavaSparkContext(spark.sparkContext()).parallelize(rows, 1), nullable)),
                        scratch.resolve("out").toUri().toString());
            } catch (RuntimeException e) {
                // only a warm-up: the part set writes (and fails) for itself
            }
        }, "ppsd-output-warm-up");
        t.setDaemon(true);
        t.start();
        return new OutputWarmUp(spark, t, scratch, group);
    }

    /** Waits for the warm-up (cancelled if it still runs when {@code cancel}) and deletes its scratch folder. */
    void finish(boolean cancel) {
        if (cancel) {
            spark.sparkContext().cancelJobGroup(group);
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        dev.ppsd.udf.ModelPaths.deleteTreeQuietly(scratch);
    }
}
