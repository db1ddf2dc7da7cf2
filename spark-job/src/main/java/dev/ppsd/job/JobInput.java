package dev.ppsd.job;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import dev.ppsd.udf.PpsdGenerator;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Predicate;
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
    /** JSON as Spark's reader parses it by default (Jackson; single quotes and NaN / Infinity allowed). */
    static final JsonFactory SPARK_JSON = JsonFactory.builder()
            .enable(JsonReadFeature.ALLOW_SINGLE_QUOTES)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    private static final Pattern TABLE_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*){0,2}");
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
        boolean glob = isGlob(a.input);
        try {
            fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
            FileStatus[] matches = glob ? fs.globStatus(p) : null;
            exists = glob ? matches != null && matches.length > 0 : fs.exists(p);
        } catch (Exception e) {
            throw JobException.usage("cannot read input " + a.input + ": " + GenerateJob.firstLine(e));
        }
        if (!exists) {
            if (a.inputFormat == null && TABLE_NAME.matcher(a.input).matches() && spark.catalog().tableExists(a.input)) {
                return table(spark, a.input);
            }
            throw JobException.usage("input " + a.input + (glob ? " matches no file or folder" : " does not exist"));
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
            if (String.valueOf(e.getMessage()).contains("UNABLE_TO_INFER_SCHEMA")) {
                throw noRows(a.input); // (Spark's "It must be specified manually" is not something a user can do here)
            }
            if (f == JobFormat.JSONL) {
                checkJsonLines(spark.sparkContext().hadoopConfiguration(), fs, p); // Spark names no line: find it
            }
            throw JobException.usage("cannot read input " + a.input + " as " + f.wire + ": " + GenerateJob.firstLine(e));
        }
        if (rows.schema().isEmpty()) {
            throw noRows(a.input); // an empty JSON or CSV file: no rows, so no columns
        }
        if (f == JobFormat.CSV) {
            checkCsvQuotes(spark.sparkContext().hadoopConfiguration(), rows.inputFiles());
        }
        // CSV columns are all text: a per-row setting column (max_new_tokens, ...) is parsed per row by its setting,
        // so a bad cell fails its own row with the setting's message
        return new JobInput(rows, f, a.input);
    }

    /** The refusal of an input with no rows to read its columns from (a CSV header alone is a table of 0 rows). */
    private static JobException noRows(String input) {
        return JobException.usage("input " + input + " holds no rows (and so no columns); nothing to generate");
    }

    /**
     * After Spark failed to read these rows: when they are JSON Lines, fails naming the file and line of the first
     * one that is no JSON object or array (Spark's message names neither); else returns.
     */
    void checkJsonLines(Configuration conf) {
        if (format == JobFormat.JSONL) {
            Path p = new Path(description);
            try {
                checkJsonLines(conf, p.getFileSystem(conf), p);
            } catch (IOException e) {
                throw JobException.usage("cannot read input " + description + ": " + e.getMessage());
            }
        }
    }

    /**
     * Fails naming the file and line of the first line of JSON Lines under {@code p} (a file, folder or glob:
     * {@link #visibleFiles}) that is not blank and does not hold a JSON object or array as Spark's reader parses it
     * (Jackson, single quotes and NaN allowed); returns when every line does. For a read Spark refused as malformed,
     * whose message names neither.
     */
    static void checkJsonLines(Configuration conf, FileSystem fs, Path p) {
        CompressionCodecFactory codecs = new CompressionCodecFactory(conf);
        try {
            for (Path file : visibleFiles(fs, p)) {
                CompressionCodec codec = codecs.getCodec(file);
                try (InputStream raw = fs.open(file); InputStream in = new BufferedInputStream(codec == null ? raw
                        : codec.createInputStream(raw), 1 << 16)) {
                    String problem = firstBadJsonLine(SPARK_JSON, in);
                    if (problem != null) {
                        throw JobException.usage("input " + shown(file) + ": " + problem);
                    }
                }
            }
        } catch (IOException e) {
            throw JobException.usage("cannot read input " + shown(p) + ": " + e.getMessage());
        }
    }

    /**
     * {@code "line N is not ..."} for the first line of {@code jsonLines} (ended by \n, \r\n or \r, as Hadoop's line
     * reader ends them) that is not blank and does not start with a whole JSON object or array; null when none.
     */
    static String firstBadJsonLine(JsonFactory json, InputStream jsonLines) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        long number = 1;
        int c = jsonLines.read();
        while (c != -1) {
            if (c == '\n' || c == '\r') {
                String problem = badJson(json, line.toByteArray());
                if (problem != null) {
                    return "line " + number + " is not " + problem;
                }
                line.reset();
                number++;
                int next = jsonLines.read();
                c = c == '\r' && next == '\n' ? jsonLines.read() : next;
                continue;
            }
            line.write(c);
            c = jsonLines.read();
        }
        String problem = badJson(json, line.toByteArray());
        return problem == null ? null : "line " + number + " is not " + problem;
    }

    /** Why {@code line} is not a JSON object or array ({@code "valid JSON: ..."}), or null when it is or is blank. */
    private static String badJson(JsonFactory json, byte[] line) {
        try (JsonParser parser = json.createParser(line)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                return null; // blank: Spark skips it
            }
            if (first != JsonToken.START_OBJECT && first != JsonToken.START_ARRAY) {
                return "a JSON object or array (it holds " + switch (first) {
                    case VALUE_STRING -> "a string";
                    case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
                    case VALUE_TRUE, VALUE_FALSE -> "a boolean";
                    default -> "null";
                } + ")";
            }
            parser.skipChildren();
            return null;
        } catch (JsonProcessingException e) {
            return "valid JSON: " + e.getOriginalMessage().lines().findFirst().orElse("");
        } catch (IOException e) {
            return "valid JSON: " + e.getMessage();
        }
    }

    /**
     * Fails on the first CSV file (of those Spark reads) with a quoted field that never closes: Spark's parser would
     * read the rest of the file into that one field, silently merging every later row into one prompt, and its
     * FAILFAST mode does not catch it. Reads each file once, on the driver, before anything is generated.
     */
    static void checkCsvQuotes(Configuration conf, String[] files) {
        CompressionCodecFactory codecs = new CompressionCodecFactory(conf);
        for (String file : files) {
            Path p = new Path(file);
            long line;
            try {
                FileSystem fs = p.getFileSystem(conf);
                CompressionCodec codec = codecs.getCodec(p);
                try (InputStream raw = fs.open(p); InputStream in = new BufferedInputStream(codec == null ? raw
                        : codec.createInputStream(raw), 1 << 16)) {
                    line = unclosedQuoteLine(in);
                }
            } catch (IOException e) {
                throw JobException.usage("cannot read input " + shown(p) + ": " + e.getMessage());
            }
            if (line > 0) {
                throw JobException.usage("input " + shown(p) + ": line " + line + ": a quoted field opens here and"
                        + " never closes (the rest of the file would be read as one value); close the quote or double"
                        + " a quote inside a quoted field (\"\")");
            }
        }
    }

    /**
     * The line (1-based) where a quoted field opens that is still open at the end of {@code csv}, else 0. The rules
     * of the job's CSV reader (RFC 4180, separator ',', quote and escape '"'): a quote opens a field only as its
     * first character; inside, {@code ""} is a quote and a lone quote ends the quoting (what follows up to the next
     * separator stays in the field); lines end with \n, \r\n or \r, also inside quotes. Byte-wise, which is exact
     * for UTF-8 (its multi-byte characters never contain these ASCII bytes).
     */
    static long unclosedQuoteLine(InputStream csv) throws IOException {
        long line = 1;
        long openedAt = 0;
        boolean quoted = false;
        boolean fieldStart = true;
        boolean afterCr = false;
        int c = csv.read();
        while (c != -1) {
            int next = -2; // not read yet
            if (c == '\n' || c == '\r') {
                line += c == '\n' && afterCr ? 0 : 1;
                afterCr = c == '\r';
                if (!quoted) {
                    fieldStart = true;
                }
            } else {
                afterCr = false;
                if (quoted) {
                    if (c == '"') {
                        next = csv.read();
                        if (next == '"') {
                            next = -2; // an escaped quote: still quoted
                        } else {
                            quoted = false; // the closing quote
                            fieldStart = false;
                        }
                    }
                } else if (c == ',') {
                    fieldStart = true;
                } else if (c == '"' && fieldStart) {
                    quoted = true;
                    openedAt = line;
                    fieldStart = false;
                } else {
                    fieldStart = false;
                }
            }
            c = next == -2 ? csv.read() : next;
        }
        return quoted ? openedAt : 0;
    }

    /** A file for messages: its path when local, else its URI. */
    private static String shown(Path p) {
        return "file".equals(p.toUri().getScheme()) ? p.toUri().getPath() : p.toString();
    }

    /** The format of a file by its extension, of a folder or glob by the extensions of its files. */
    private static JobFormat detect(FileSystem fs, Path p, String input) {
        try {
            if (!isGlob(input) && fs.getFileStatus(p).isFile()) {
                JobFormat f = JobFormat.ofFileName(p.getName());
                if (f == null) {
                    throw JobException.usage("cannot tell the format of input " + input + " from its name; pass"
                            + " --input-format parquet|jsonl|csv|arrow");
                }
                return f;
            }
            TreeSet<String> found = new TreeSet<>();
            List<Path> files = visibleFiles(fs, p);
            for (Path f : files) {
                JobFormat jf = JobFormat.ofFileName(f.getName());
                if (jf != null) {
                    found.add(jf.wire);
                }
            }
            String what = isGlob(input) ? "input " + input : "input folder " + input;
            if (files.isEmpty()) {
                throw JobException.usage(what + " holds no files");
            }
            if (found.size() != 1) {
                throw JobException.usage("cannot tell the format of " + what + (found.isEmpty()
                        ? " (no .parquet, .jsonl, .json, .csv or .arrow files)" : " (it mixes " + String.join(", ", found)
                        + ")") + "; pass --input-format parquet|jsonl|csv|arrow");
            }
            return JobFormat.parse("--input-format", found.first(), false);
        } catch (IOException e) {
            throw JobException.usage("cannot read input " + input + ": " + e.getMessage());
        }
    }

    /** Whether a path is a Hadoop glob ({@code *}, {@code ?}, {@code [...]}, {@code {a,b}}), as Spark reads it. */
    static boolean isGlob(String path) {
        return path.chars().anyMatch(c -> c == '*' || c == '?' || c == '[' || c == '{');
    }

    /**
     * The files Spark reads for {@code p} (a file, a folder, or a glob of either), in name order: every match that is
     * a file, and the files under every match that is a folder but those hidden from readers (a name starting with
     * {@code _} or {@code .} on the way down).
     */
    static List<Path> visibleFiles(FileSystem fs, Path p) throws IOException {
        return visibleFiles(fs, p, f -> true);
    }

    /** {@link #visibleFiles(FileSystem, Path)}, of the files in folders only those {@code inFolders} accepts. */
    static List<Path> visibleFiles(FileSystem fs, Path p, Predicate<Path> inFolders) throws IOException {
        List<Path> files = new ArrayList<>();
        FileStatus[] matches = fs.globStatus(p);
        for (FileStatus m : matches == null ? new FileStatus[0] : matches) {
            if (m.isFile()) {
                files.add(m.getPath());
                continue;
            }
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(m.getPath(), true);
            while (it.hasNext()) {
                Path f = it.next().getPath();
                if (!HadoopFiles.isHidden(m.getPath(), f) && inFolders.test(f)) {
                    files.add(f);
                }
            }
        }
        files.sort(null);
        return files;
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
