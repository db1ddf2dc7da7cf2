package dev.ppsd.udf;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.TinyModels;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What the udf tests share, built once per test JVM: one local Spark session ({@code local[2,2]}: two task
 * threads, and a failed task is retried once, as on a cluster), one tiny random model and one directly opened
 * engine used as the oracle (the text Spark writes must equal what {@link GenerationEngine#generate} gives).
 */
final class TestSpark {
    /** A Hadoop FileSystem scheme served by {@link LocalTestFileSystem}, to test the copy-from-URI path. */
    static final String TEST_SCHEME = "ppsdtest";

    private static SparkSession spark;
    private static Path model;
    private static GenerationEngine oracle;

    private TestSpark() {
    }

    static synchronized SparkSession spark() {
        if (spark == null) {
            spark = SparkSession.builder()
                    .master("local[2,2]")
                    .appName("ppsd-udf-tests")
                    .config("spark.ui.enabled", "false")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.sql.shuffle.partitions", "2")
                    .config("spark.hadoop.fs." + TEST_SCHEME + ".impl", LocalTestFileSystem.class.getName())
                    .config("spark.hadoop.fs." + TEST_SCHEME + ".impl.disable.cache", "true")
                    .getOrCreate();
        }
        return spark;
    }

    /** A random 2-layer model (context 512) with a real tokenizer and a chat template, written once. */
    static synchronized Path model() {
        if (model == null) {
            try {
                model = TinyModels.writeChatTemplate(TinyModels.write(Files.createTempDirectory("ppsd-udf-model-"),
                        TinyModels.config(2, 512), 7), TinyModels.CHAT_TEMPLATE);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    /** An engine opened directly (not through the cache): the oracle for the text Spark writes. */
    static synchronized GenerationEngine oracle() {
        if (oracle == null) {
            oracle = GenerationEngine.open(EngineOptions.of(model()));
        }
        return oracle;
    }

    static List<GenerationResult> direct(List<GenerationRequest> requests) {
        return oracle().generate(requests);
    }

    /** Rows sorted by a column, on the driver (an orderBy on the output would run the generation twice). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static List<Row> sorted(List<Row> rows, String column) {
        List<Row> l = new ArrayList<>(rows);
        l.sort(Comparator.comparing(r -> (Comparable) r.get(r.fieldIndex(column))));
        return l;
    }

    static Dataset<Row> table(StructType schema, List<Row> rows, int partitions) {
        return spark().createDataFrame(rows, schema).repartition(partitions);
    }
}
