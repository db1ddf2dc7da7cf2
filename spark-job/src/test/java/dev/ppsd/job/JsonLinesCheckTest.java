package dev.ppsd.job;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link JobInput#checkJsonLines}: the job's own finding of the line that Spark's JSON reader refused as malformed
 * (Spark names neither file nor line). Its verdict on each kind of line is checked against Spark's (the oracle: a
 * PERMISSIVE read of a file of that one line, whose {@code _corrupt_record} column is set for a line it cannot
 * parse), and its line numbers against the line ends Hadoop's reader knows (\n, \r\n, \r; blank lines skipped).
 */
class JsonLinesCheckTest {
    @TempDir
    static Path tmp;

    @AfterAll
    static void stopSpark() {
        JobTests.spark().stop();
    }

    private static String firstBad(byte[] bytes) throws IOException {
        return JobInput.firstBadJsonLine(JobInput.SPARK_JSON, new ByteArrayInputStream(bytes));
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void eachKindOfLineIsJudgedAsSparkJudgesIt() throws IOException {
        List<byte[]> lines = new ArrayList<>(List.of(utf8("{\"id\": 1, \"prompt\": \"a\"}"), utf8("[{\"id\": 1}]"),
                utf8("{'id': 1, 'prompt': 'single quotes'}"), utf8("{\"x\": NaN}"), utf8("{\"p\": \"日本語 🎉\"}"),
                utf8("{not json"), utf8("{\"id\": 1,}"), utf8("{id: 1}"), utf8("{\"id\": 01}"),
                utf8("{\"p\": \"a\u0001b\"}"), utf8("{\"p\": \"unclosed}"), utf8("123"), utf8("\"text\""),
                utf8("null"), new byte[] {'{', '"', 'p', '"', ':', '"', 'c', 'a', 'f', (byte) 0xe9, ' ', (byte) 0xff,
                    '"', '}'}));
        SparkSession spark = JobTests.spark();
        List<String> disagreements = new ArrayList<>();
        int bad = 0;
        for (int i = 0; i < lines.size(); i++) {
            Path file = tmp.resolve("line" + i + ".jsonl");
            Files.write(file, lines.get(i));
            // Spark's verdict, reading as the job reads: FAILFAST fails on a line it cannot parse
            boolean sparkBad;
            try {
                sparkBad = spark.read().option("mode", "FAILFAST").json(file.toString()).collectAsList().isEmpty();
            } catch (Exception e) {
                sparkBad = true;
            }
            String ours = firstBad(lines.get(i));
            bad += ours != null ? 1 : 0;
            if (sparkBad != (ours != null)) {
                disagreements.add(new String(lines.get(i), StandardCharsets.UTF_8) + ": Spark " + (sparkBad ? "bad"
                        : "good") + ", ours " + ours);
            }
        }
        assertTrue(disagreements.isEmpty(), String.join("\n", disagreements));
        assertTrue(bad >= 8, "most of the table is malformed: " + bad);
    }

    @Test
    void theLineIsCountedAsHadoopsReaderEndsLines() throws IOException {
        assertNull(firstBad(utf8("{\"a\": 1}\n\n   \n{\"a\": 2}\r\n{\"a\": 3}\r{\"a\": 4}")));
        assertEquals("line 6 is not valid JSON: Unexpected character ('n' (code 110)): was expecting double-quote to"
                + " start field name", firstBad(utf8("{\"a\": 1}\n\n   \n{\"a\": 2}\r\n{\"a\": 3}\r{not json}\n")));
        assertEquals("line 3 is not a JSON object or array (it holds a number)",
                firstBad(utf8("{}\r\n{}\r\n123\r\n{oops\n")));
        assertEquals("line 2 is not valid JSON: Unexpected end-of-input: expected close marker for Object (start"
                + " marker at [Source: (byte[])\"{\"a\": 1\"; line: 1, column: 1])",
                firstBad(utf8("{\"a\": 1}\n{\"a\": 1")));
    }

    @Test
    void aFolderIsReadFileByFileInNameOrderAndTheFileIsNamed() throws IOException {
        Path folder = Files.createDirectories(tmp.resolve("parts"));
        Files.writeString(folder.resolve("part-0.jsonl"), "{\"a\": 1}\n");
        Files.writeString(folder.resolve("part-1.jsonl"), "{\"a\": 1}\n{\"a\": 2\n");
        Files.writeString(folder.resolve("part-2.jsonl"), "oops\n");
        Files.writeString(folder.resolve("_hidden.jsonl"), "oops\n");
        Configuration conf = new Configuration();
        FileSystem fs = FileSystem.getLocal(conf);
        JobException e = assertThrows(JobException.class, () -> JobInput.checkJsonLines(conf, fs,
                new org.apache.hadoop.fs.Path(folder.toUri())));
        String part1 = "input " + folder.resolve("part-1.jsonl");
        assertTrue(e.getMessage().startsWith(part1 + ": line 2 is not valid JSON: "),
                e.getMessage());
        Files.writeString(folder.resolve("part-1.jsonl"), "{\"a\": 1}\n");
        Files.delete(folder.resolve("part-2.jsonl"));
        JobInput.checkJsonLines(conf, fs, new org.apache.hadoop.fs.Path(folder.toUri())); // every line is good
    }
}
