package dev.ppsd.job;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import dev.ppsd.udf.PpsdGenerator;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Pattern;


/**
 * The prompt table: found by path (format from the extension unless --input-format says) or by table name, read,
 * and checked before anything is generated.
 *
 * @param rows        the rows, repartitioned when --partitions asks
 * @param format      what it was read as
 * @param description the path or table name, for messages and the summary
 */
record JobInput(Dataset<Row> rows, JobFormat format, String description) {
    private static final Pattern TABLE_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*){0,2}");
    /** Per-row override columns of PpsdGenerator and their types (a CSV reads them as strings). */
    /** Opens the input named by {@code a.input}; every problem is a {@link JobException} naming it. */
    static JobInput open(SparkSession spark, JobArgs a) {
        JobInput in = a.inputFormat == JobFormat.TABLE ? table(spark, a.input) : path(spark, a);
        Dataset<Row> rows = in.rows;
        if (a.partitions > 0) {
            rows = rows.repartition(a.partitions);
        }
        return new JobInput(rows, in.format, in.description);
    }

    private static JobInput table(SparkSession spark, String name) {
        if (!spark.catalog().tableExists(name)) {
            throw JobException.usage("input table " + name + " does not exist");
        }
        return new JobInput(spark.table(name), JobFormat.TABLE, name);
    }

    private static JobInput path(SparkSession spark, JobArgs a) {
        Path p = new Path(a.input);
        FileSystem fs;
        boolean exists;
        try {
            fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
            exists = fs.exists(p);
        } catch (Exception e) {
            throw JobException.usage("cannot read input " + a.input + ": " + GenerateJob.firstLine(e));
        }
        if (!exists) {
            if (a.inputFormat == null && TABLE_NAME.matcher(a.input).matches() && spark.catalog().tableExists(a.input)) {
                return table(spark, a.input);
            }
            throw JobException.usage("input " + a.input + " does not exist");
        }
        JobFormat f = a.inputFormat != null ? a.inputFormat : detect(fs, p, a.input);
        String qualified = fs.makeQualified(p).toString();
        Dataset<Row> rows;
        try {
            rows = f.read(spark, List.of(qualified));
            rows.schema();
        } catch (JobException e) {
            throw e;
        } catch (Exception e) {
            throw JobException.usage("cannot read input " + a.input + " as " + f.wire + ": " + GenerateJob.firstLine(e));
        }
        // CSV columns are all text: a per-row setting column (max_new_tokens, ...) is parsed per row by its setting,
        // so a bad cell fails its own row with the setting's message
        return new JobInput(rows, f, a.input);
    }

    /** The format of a file by its extension, of a folder by the extensions of the files in it. */
    private static JobFormat detect(FileSystem fs, Path p, String input) {
        try {
            if (fs.getFileStatus(p).isFile()) {
                JobFormat f = JobFormat.ofFileName(p.getName());
                if (f == null) {
                    throw JobException.usage("cannot tell the format of input " + input + " from its name; pass"
                            + " --input-format parquet|jsonl|csv|arrow");
                }
                return f;
            }
            TreeSet<String> found = new TreeSet<>();
            boolean any = false;
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
            while (it.hasNext()) {
                Path f = it.next().getPath();
                if (HadoopFiles.isHidden(p, f)) {
                    continue;
                }
                any = true;
                JobFormat jf = JobFormat.ofFileName(f.getName());
                if (jf != null) {
                    found.add(jf.wire);
                }
            }
            if (!any) {
                throw JobException.usage("input folder " + input + " holds no files");
            }
            if (found.size() != 1) {
                throw JobException.usage("cannot tell the format of input folder " + input + (found.isEmpty()
                        ? " (no .parquet, .jsonl, .json, .csv or .arrow files)" : " (it mixes " + String.join(", ", found)
                        + ")") + "; pass --input-format parquet|jsonl|csv|arrow");
            }
            return JobFormat.parse("--input-format", found.first(), false);
        } catch (IOException e) {
            throw JobException.usage("cannot read input " + input + ": " + e.getMessage());
        }
    }

    /**
     * Checks the columns the job needs: the prompt column (a string) and the id column. Messages name the column and
     * list the ones there are: {@code prompt column 'text' not found in input; columns: id, prompt}.
     */
    static void checkColumns(StructType schema, String promptCol, String messagesCol, String idCol) {
        List<String> names = Arrays.asList(schema.fieldNames());
        String columns = "; columns: " + String.join(", ", names);
        if (names.contains(messagesCol) && !PpsdGenerator.isChat(schema.apply(messagesCol).dataType())) {
            throw JobException.usage("messages column '" + messagesCol + "' must be array<struct<role:string,"
                    + "content:string>> but is " + schema.apply(messagesCol).dataType().simpleString());
        }
        if (!names.contains(promptCol) && !names.contains(messagesCol)) {
            throw JobException.usage("prompt column '" + promptCol + "' not found in input" + columns
                    + " (or a messages column '" + messagesCol + "')");
        }
        DataType t = names.contains(promptCol) ? schema.apply(promptCol).dataType() : DataTypes.StringType;
        if (!DataTypes.StringType.equals(t)) {
            throw JobException.usage("prompt column '" + promptCol + "' must be string but is " + t.simpleString());
        }
        if (!names.contains(idCol)) {
            throw JobException.usage("id column '" + idCol + "' not found in input" + columns + " (the job needs a"
                    + " unique id per row, to seed it and to resume: pass --id-col)");
        }
    }

    /** CSV holds flat columns only: names an input column it cannot write. */
    static void checkCsvWritable(StructType schema) {
        for (StructField f : schema.fields()) {
            DataType t = f.dataType();
            if (t instanceof org.apache.spark.sql.types.ArrayType || t instanceof org.apache.spark.sql.types.MapType
                    || t instanceof StructType || t instanceof org.apache.spark.sql.types.BinaryType) {
                throw JobException.usage("csv output cannot hold input column '" + f.name() + "' of type "
                        + t.simpleString() + "; use --output-format parquet, jsonl or arrow");
            }
        }
    }
}
