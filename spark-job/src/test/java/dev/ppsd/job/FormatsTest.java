package dev.ppsd.job;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The job end to end in local mode through {@link GenerateJob#run}: every input format into every output format.
 * Row 6 has a null prompt (a bad row: null results and a message); the others must come back with text, and since
 * a row's seed derives from its id, every combination must give every row the same text.
 */
class FormatsTest {
    static final List<String> INPUTS = List.of("parquet", "jsonl", "csv", "arrow");
    static final List<String> OUTPUTS = List.of("parquet", "jsonl", "csv", "arrow");

    @TempDir
    static Path tmp;
    static final Map<String, Path> inputs = new LinkedHashMap<>();

    @BeforeAll
    static void writeInputs() throws IOException {
        JobTests.spark();
        List<Object[]> rows = JobTests.rows(6);
        inputs.put("parquet", JobTests.parquet(tmp.resolve("in-parquet"), rows));
        inputs.put("jsonl", JobTests.jsonl(tmp.resolve("in.jsonl"), rows));
        inputs.put("csv", JobTests.csv(tmp.resolve("in.csv"), rows));
        inputs.put("arrow", JobTests.arrow(tmp.resolve("in.arrow"), rows));
    }

    @Test
    void jsonLinesWithMessagesAreGeneratedFromTheChat() throws IOException {
        Path in = Files.write(tmp.resolve("chat.jsonl"), List.of(
                "{\"id\": 1, \"messages\": [{\"role\": \"user\", \"content\": \"In the beginning\"}]}",
                "{\"id\": 2, \"prompt\": \"<|user|>In the beginning</s><|assistant|>\"}",
                "{\"id\": 3, \"messages\": [{\"role\": \"narrator\", \"content\": \"x\"}]}"));
        Path out = tmp.resolve("out-chat");
        JobTests.Result r = JobTests.run("--input", in.toString(), "--output", out.toString(), "--output-format",
                "jsonl");
        assertEquals(0, r.exitCode(), r.err());
        Map<String, JobTests.Out> rows = JobTests.read(out, "jsonl");
        assertNull(rows.get("1").error());
        assertNotNull(rows.get("1").text());
        assertEquals("unknown role narrator", rows.get("3").error());
        java.util.List<org.apache.spark.sql.Row> tokens = JobTests.spark().read().json(out.toString())
                .orderBy("id").select("prompt_tokens").collectAsList();
        assertEquals(tokens.get(1).getLong(0) - 1, tokens.get(0).getLong(0), "the chat without the prompt's BOS");
    }

    @AfterAll
    static void stopSpark() {
        JobTests.spark().stop();
    }

    @Test
    void everyInputFormatIntoEveryOutputFormatKeepsEveryRowAndGivesEachIdTheSameText() throws IOException {
        Map<String, JobTests.Out> reference = null;
        for (String in : INPUTS) {
            for (String outFormat : OUTPUTS) {
                Path out = tmp.resolve("out-" + in + "-" + outFormat);
                // --input-format only where the extension does not say: the parquet input is a Spark folder
                JobTests.Result r = JobTests.run("--input", inputs.get(in).toString(), "--output", out.toString(),
                        "--output-format", outFormat, "--temperature", "0.7", "--seed", "5");
                String what = in + " -> " + outFormat + ": " + r.err();
                assertEquals(0, r.exitCode(), what);
                Map<String, JobTests.Out> rows = JobTests.read(out, outFormat);
                assertEquals(Set.of("1", "2", "3", "4", "5", "6"), new TreeSet<>(rows.keySet()), what);
                for (JobTests.Out o : rows.values()) {
                    if (o.id().equals("6")) {
                        assertNull(o.text(), what);
                        assertEquals("prompt is null", o.error(), what);
                    } else {
                        assertNotNull(o.text(), what + " row " + o);
                        assertNull(o.error(), what + " row " + o);
                        assertTrue(o.newTokens() >= 1 && o.newTokens() <= 4, what + " row " + o);
                    }
                }
                assertEquals(JobTests.PROMPTS[3], rows.get("4").prompt(), "a prompt with a line break survives " + what);
                assertEquals(JobTests.PROMPTS[1], rows.get("2").prompt(), "a prompt with quotes survives " + what);
                if (reference == null) {
                    reference = rows;
                } else {
                    for (String id : rows.keySet()) {
                        assertEquals(reference.get(id).text(), rows.get(id).text(), what + " id " + id);
                    }
                }
                assertTrue(Files.exists(out.resolve("_SUMMARY.json")), what);
                assertTrue(r.out().contains("5 ok, 1 failed, 0 skipped"), what + "\n" + r.out());
            }
        }
    }

    @Test
    void aGlobIsReadAsSparkReadsIt() throws IOException {
        // a glob of folders (hidden files left out, as Spark leaves them) and of files; the format from what it matches
        List<Object[]> rows = JobTests.rows(6);
        Path days = tmp.resolve("glob-days");
        JobTests.jsonl(Files.createDirectories(days.resolve("day-1")).resolve("part-0.jsonl"), rows.subList(0, 2));
        JobTests.jsonl(Files.createDirectories(days.resolve("day-2")).resolve("part-0.jsonl"), rows.subList(2, 4));
        JobTests.jsonl(Files.createDirectories(days.resolve("other")).resolve("part-0.jsonl"), rows.subList(4, 6));
        Files.writeString(days.resolve("day-2/_skipped.jsonl"), "{not json\n");
        Path out = tmp.resolve("out-glob");
        JobTests.Result r = JobTests.run("--input", days + "/day-*", "--output", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(java.util.Set.of("1", "2", "3", "4"), JobTests.read(out, "parquet").keySet());

        r = JobTests.run("--input", days + "/{day-1,other}/*.jsonl", "--output", tmp.resolve("out-glob2").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(java.util.Set.of("1", "2", "5", "6"), JobTests.read(tmp.resolve("out-glob2"), "parquet").keySet());

        // Arrow files, which the job reads itself: a glob of them as given
        Path arrows = Files.createDirectories(tmp.resolve("glob-arrows"));
        JobTests.arrow(arrows.resolve("a-1.arrow"), rows.subList(0, 3));
        JobTests.arrow(arrows.resolve("a-2.arrow"), rows.subList(3, 5));
        JobTests.arrow(arrows.resolve("b-1.arrow"), rows.subList(5, 6));
        r = JobTests.run("--input", arrows + "/a-*", "--output", tmp.resolve("out-glob-arrow").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(java.util.Set.of("1", "2", "3", "4", "5"),
                JobTests.read(tmp.resolve("out-glob-arrow"), "parquet").keySet());

        r = JobTests.run("--input", days + "/week-*", "--output", tmp.resolve("out-glob3").toString());
        assertEquals(2, r.exitCode());
        assertEquals("ppsd-job: error: input " + days + "/week-* matches no file or folder", r.lastErrLine());
        assertFalse(Files.exists(tmp.resolve("out-glob3")));
    }

    @Test
    void aTableOfTheCatalogIsAnInputByName() throws IOException {
        JobTests.spark().read().json(inputs.get("jsonl").toString()).createOrReplaceTempView("prompts_view");
        Path out = tmp.resolve("out-table");
        JobTests.Result r = JobTests.run("--input", "prompts_view", "--output", out.toString(), "--partitions", "3");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(6, JobTests.read(out, "parquet").size());
        try (var files = Files.list(out)) {
            assertEquals(3, files.filter(p -> p.getFileName().toString().endsWith(".parquet")).count(),
                    "one part file per input partition");
        }
        JobTests.Result missing = JobTests.run("--input", "no_such_table", "--input-format", "table", "--output",
                tmp.resolve("out-none").toString());
        assertEquals(2, missing.exitCode());
        assertEquals("ppsd-job: error: input table no_such_table does not exist", missing.lastErrLine());
    }
}
