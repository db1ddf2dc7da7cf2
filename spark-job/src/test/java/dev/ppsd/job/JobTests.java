package dev.ppsd.job;

import com.google.gson.JsonObject;
import dev.ppsd.engine.model.TinyModels;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What the job tests share: one tiny random model per JVM, prompt tables written in every input format, a way to
 * run the job capturing its output, and readers for every output format (Arrow read with Arrow's own reader, not
 * the job's).
 */
final class JobTests {
    /** Prompts with a comma, quotes and a line break (CSV quoting), and one null prompt (a bad row). */
    static final String[] PROMPTS = {"In the beginning", "And God said, \"Let there be light\"", "public static int",
            "for (int i = 0;\nsum += values[i];", "The quick brown fox", null};

    private static Path model;

    private JobTests() {
    }

    /** A random 2-layer model (context 512) with a real tokenizer and a chat template, written once per JVM. */
    static synchronized Path model() {
        if (model == null) {
            try {
                model = TinyModels.writeChatTemplate(TinyModels.write(Files.createTempDirectory("ppsd-job-model-"),
                        TinyModels.config(2, 512), 11), TinyModels.CHAT_TEMPLATE);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    /** A local session for the tests (two task threads, a failed task retried once), reused by GenerateJob.run. */
    static SparkSession spark() {
        return SparkSession.builder()
                .master("local[2,2]")
                .appName("ppsd-job-tests")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }

    /** The outcome of one {@link GenerateJob#run} call. */
    record Result(int exitCode, String out, String err) {
        /** The last line of stderr (the one-line reason of a failure). */
        String lastErrLine() {
            String[] lines = err.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    /** Runs the job with {@code args} plus the tiny model and short generations, capturing stdout and stderr. */
    static Result run(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        if (!all.contains("--model")) {
            all.addAll(List.of("--model", model().toString()));
        }
        if (!all.contains("--max-new-tokens")) {
            all.addAll(List.of("--max-new-tokens", "4"));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = GenerateJob.run(all.toArray(new String[0]), o, e);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    // ---- inputs ----

    /**
     * Rows {id 1..n, prompt, domain} cycling through PROMPTS: up to 6 rows, row 6 has the null prompt (a bad row);
     * longer tables (the resume tests) have only good rows ("row 6", "row 12").
     */
    static List<Object[]> rows(int n) {
        List<Object[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = PROMPTS[i % PROMPTS.length];
            rows.add(new Object[] {i + 1, p == null && n > PROMPTS.length ? "row " + (i + 1) : p, i % 2 == 0 ? "a" : "b"});
        }
        return rows;
    }

    static Path jsonl(Path file, List<Object[]> rows) throws IOException {
        StringBuilder s = new StringBuilder();
        for (Object[] r : rows) {
            JsonObject o = new JsonObject();
            o.addProperty("id", (Integer) r[0]);
            o.addProperty("prompt", (String) r[1]);
            o.addProperty("domain", (String) r[2]);
            s.append(o).append('\n');
        }
        Files.writeString(file, s.toString());
        return file;
    }

    static Path csv(Path file, List<Object[]> rows) throws IOException {
        StringBuilder s = new StringBuilder("id,prompt,domain\n");
        for (Object[] r : rows) {
            String p = (String) r[1];
            s.append(r[0]).append(',').append(p == null ? "" : '"' + p.replace("\"", "\"\"") + '"').append(',')
                    .append(r[2]).append('\n');
        }
        Files.writeString(file, s.toString());
        return file;
    }

    static Path parquet(Path dir, List<Object[]> rows) {
        List<Row> rs = new ArrayList<>();
        for (Object[] r : rows) {
            rs.add(RowFactory.create(r));
        }
        StructType schema = new StructType().add("id", "int").add("prompt", "string").add("domain", "string");
        spark().createDataFrame(rs, schema).coalesce(1).write().parquet(dir.toString());
        return dir;
    }

    /** An Arrow IPC file written with Arrow's own writer: id int32, prompt and domain utf8. */
    static Path arrow(Path file, List<Object[]> rows) throws IOException {
        try (BufferAllocator alloc = new RootAllocator();
                IntVector id = new IntVector("id", alloc);
                VarCharVector prompt = new VarCharVector("prompt", alloc);
                VarCharVector domain = new VarCharVector("domain", alloc)) {
            id.allocateNew(rows.size());
            prompt.allocateNew(rows.size());
            domain.allocateNew(rows.size());
            for (int i = 0; i < rows.size(); i++) {
                Object[] r = rows.get(i);
                id.setSafe(i, (Integer) r[0]);
                if (r[1] == null) {
                    prompt.setNull(i);
                } else {
                    prompt.setSafe(i, ((String) r[1]).getBytes(StandardCharsets.UTF_8));
                }
                domain.setSafe(i, ((String) r[2]).getBytes(StandardCharsets.UTF_8));
            }
            List<FieldVector> vs = List.of(id, prompt, domain);
            vs.forEach(v -> v.setValueCount(rows.size()));
            try (VectorSchemaRoot root = new VectorSchemaRoot(vs);
                    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    ArrowFileWriter w = new ArrowFileWriter(root, null, ch)) {
                w.start();
                w.writeBatch();
                w.end();
            }
        }
        return file;
    }

    // ---- outputs ----

    /** An output row as the tests compare it. */
    record Out(String id, String prompt, String text, String finishReason, Long newTokens, String error) {
    }

    /**
     * The rows of an output written with {@code --n}, by {@code id/sample_index}, read as any reader would read the
     * folder; fails on a repeated (id, sample_index).
     */
    static Map<String, Out> readSamples(Path dir) {
        Map<String, Out> byKey = new java.util.TreeMap<>();
        for (Row r : spark().read().parquet(dir.toString()).selectExpr("cast(id as string)", "prompt",
                "generated_text", "finish_reason", "cast(new_tokens as long)", "error", "sample_index").collectAsList()) {
            Out o = new Out(r.getString(0), r.getString(1), r.getString(2), r.getString(3),
                    r.isNullAt(4) ? null : r.getLong(4), r.getString(5));
            String key = o.id + "/" + r.get(6);
            if (byKey.put(key, o) != null) {
                throw new AssertionError("id/sample_index " + key + " is in the output twice");
            }
        }
        return byKey;
    }

    /** The output's rows by id (as text), read as any reader would read the folder; fails on a repeated id. */
    static Map<String, Out> read(Path dir, String format) throws IOException {
        List<Out> rows = new ArrayList<>();
        if (format.equals("arrow")) {
            rows.addAll(readArrow(dir));
        } else {
            SparkSession spark = spark();
            Dataset<Row> df = switch (format) {
                case "parquet" -> spark.read().parquet(dir.toString());
                case "jsonl" -> spark.read().json(dir.toString());
                case "csv" -> spark.read().option("header", "true").option("multiLine", "true").option("escape", "\"")
                        .csv(dir.toString());
                default -> throw new IllegalArgumentException(format);
            };
            for (Row r : df.selectExpr("cast(id as string)", "prompt", "generated_text", "finish_reason",
                    "cast(new_tokens as long)", "error").collectAsList()) {
                rows.add(new Out(r.getString(0), r.getString(1), r.getString(2), r.getString(3),
                        r.isNullAt(4) ? null : r.getLong(4), r.getString(5)));
            }
        }
        Map<String, Out> byId = new LinkedHashMap<>();
        rows.sort(Comparator.comparing(Out::id));
        for (Out o : rows) {
            if (byId.put(o.id, o) != null) {
                throw new AssertionError("id " + o.id + " is in the output twice");
            }
        }
        return byId;
    }

    private static List<Out> readArrow(Path dir) throws IOException {
        List<Out> rows = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".arrow")).sorted().toList();
        }
        for (Path f : files) {
            try (BufferAllocator alloc = new RootAllocator();
                    FileChannel ch = FileChannel.open(f);
                    ArrowFileReader r = new ArrowFileReader(ch, alloc)) {
                VectorSchemaRoot root = r.getVectorSchemaRoot();
                while (r.loadNextBatch()) {
                    for (int i = 0; i < root.getRowCount(); i++) {
                        Object nt = root.getVector("new_tokens").getObject(i);
                        rows.add(new Out(String.valueOf(root.getVector("id").getObject(i)),
                                str(root.getVector("prompt").getObject(i)),
                                str(root.getVector("generated_text").getObject(i)),
                                str(root.getVector("finish_reason").getObject(i)),
                                nt == null ? null : ((Number) nt).longValue(),
                                str(root.getVector("error").getObject(i))));
                    }
                }
            }
        }
        return rows;
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
