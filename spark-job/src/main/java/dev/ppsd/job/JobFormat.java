package dev.ppsd.job;

import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.DataFrameWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;

import java.util.List;
import java.util.Locale;

/**
 * The table formats of the job: how a file is recognised by its name, read into a Dataset and written by Spark.
 * Arrow IPC has no Spark data source; {@link ArrowFiles} reads and writes it. {@link #TABLE} is an input only.
 */
enum JobFormat {
    PARQUET("parquet", ".parquet"),
    JSONL("jsonl", ".json"),
    CSV("csv", ".csv"),
    ARROW("arrow", ".arrow"),
    TABLE("table", null);

    /** The name on the command line and in {@code _SUMMARY.json}. */
    final String wire;
    /** The extension of the part files this job writes in this format. */
    final String partExtension;

    JobFormat(String wire, String partExtension) {
        this.wire = wire;
        this.partExtension = partExtension;
    }

    /** Parses a --input-format / --output-format value (json and ndjson mean jsonl; feather and ipc mean arrow). */
    static JobFormat parse(String flag, String value, boolean allowTable) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        JobFormat f = switch (v) {
            case "parquet" -> PARQUET;
            case "jsonl", "json", "ndjson" -> JSONL;
            case "csv" -> CSV;
            case "arrow", "feather", "ipc" -> ARROW;
            case "table" -> allowTable ? TABLE : null;
            default -> null;
        };
        if (f == null) {
            throw JobException.usage(flag + " must be one of parquet, jsonl, csv, arrow" + (allowTable ? ", table" : "")
                    + " but was " + value);
        }
        return f;
    }

    /** The format a file name says (by extension, compression suffixes allowed), or null. */
    static JobFormat ofFileName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (String z : List.of(".gz", ".bz2", ".zst", ".snappy", ".lz4", ".deflate")) {
            if (n.endsWith(z) && !n.endsWith(".parquet" + z)) {
                n = n.substring(0, n.length() - z.length());
            }
        }
        if (n.endsWith(".parquet")) {
            return PARQUET;
        } else if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson")) {
            return JSONL;
        } else if (n.endsWith(".csv")) {
            return CSV;
        } else if (n.endsWith(".arrow") || n.endsWith(".feather") || n.endsWith(".ipc")) {
            return ARROW;
        }
        return null;
    }

    /** Whether {@code name} is a part file this job writes in this format. */
    boolean isPartFile(String name) {
        return name.startsWith("part-") && ofFileName(name) == this;
    }

    /**
     * Reads {@code paths} (files or folders) with Spark. JSON and CSV fail fast on a malformed record instead of
     * nulling it; CSV needs a header, keeps every column a string (so a prompt such as "0123456789" stays text) and
     * allows quoted line breaks.
     */
    Dataset<Row> read(SparkSession spark, List<String> paths) {
        String[] p = paths.toArray(new String[0]);
        DataFrameReader r = spark.read();
        return switch (this) {
            case PARQUET -> r.parquet(p);
            case JSONL -> r.option("mode", "FAILFAST").json(p);
            case CSV -> r.option("header", "true").option("multiLine", "true").option("escape", "\"")
                    .option("mode", "FAILFAST").csv(p);
            case ARROW -> ArrowFiles.read(spark, paths);
            case TABLE -> throw new IllegalStateException("a table is read by name");
        };
    }

    /** Writes {@code df} into the new folder {@code dir} through Spark's committer (which adds {@code _SUCCESS}). */
    void write(Dataset<Row> df, String dir) {
        DataFrameWriter<Row> w = df.write().mode(SaveMode.ErrorIfExists);
        switch (this) {
            case PARQUET -> w.parquet(dir);
            // explicit nulls: every line has every column
            case JSONL -> w.option("ignoreNullFields", "false").json(dir);
            // RFC 4180 quoting; Spark's writer would otherwise trim the spaces around a value (generated text
            // often starts with one)
            case CSV -> w.option("header", "true").option("escape", "\"").option("ignoreLeadingWhiteSpace", "false")
                    .option("ignoreTrailingWhiteSpace", "false").csv(dir);
            case ARROW -> ArrowFiles.write(df, dir);
            case TABLE -> throw new IllegalStateException("table is not an output format");
        }
    }
}
