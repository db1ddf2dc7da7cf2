package dev.ppsd.job;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Resume: a run stopped part-way, plus the leftovers a kill leaves at the two worst moments (a part set committed
 * but not yet published; a part set half-written), then a re-run: every id exactly once, with the text an
 * uninterrupted run gives (sampled, so the per-id seeds matter).
 */
class ResumeTest {
    @TempDir
    static Path tmp;
    static Path input;
    /** 12 rows in 4 partitions of 3, one part set per partition. */
    static final String[] SHAPE = {"--partitions", "4", "--partitions-per-commit", "1", "--temperature", "0.8",
            "--seed", "3"};

    @BeforeAll
    static void input() throws IOException {
        JobTests.spark();
        input = JobTests.jsonl(tmp.resolve("prompts.jsonl"), JobTests.rows(12));
    }

    @AfterAll
    static void stopSpark() {
        JobTests.spark().stop();
    }

    private static JobTests.Result run(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("--input", input.toString(), "--output", out.toString()));
        args.addAll(List.of(SHAPE));
        args.addAll(List.of(more));
        return JobTests.run(args.toArray(new String[0]));
    }

    private static List<Path> partFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList();
        }
    }

    private static JsonObject summary(Path out) throws IOException {
        return JsonParser.parseString(Files.readString(out.resolve("_SUMMARY.json"))).getAsJsonObject();
    }

    /** Moves a published part file (and its checksum) into {@code dir}. */
    private static void moveBack(Path file, Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.move(file, dir.resolve(file.getFileName()));
        Path crc = file.resolveSibling("." + file.getFileName() + ".crc");
        if (Files.exists(crc)) {
            Files.move(crc, dir.resolve(crc.getFileName()));
        }
    }

    @Test
    void aRunStoppedPartWayIsFinishedByTheNextWithEveryIdOnceAndTheUninterruptedText() throws IOException {
        Path reference = tmp.resolve("reference");
        assertEquals(0, run(reference).exitCode());
        Map<String, JobTests.Out> want = JobTests.read(reference, "parquet");
        assertEquals(12, want.size());

        // run 1 dies when the part set of input partition 2 runs: part sets 0 and 1 (3 rows each) are committed
        Path out = tmp.resolve("out");
        JobTests.Result stopped = run(out, "--conf", TestHooks.FAIL_FROM_PARTITION + "=2");
        assertEquals(1, stopped.exitCode(), stopped.err());
        assertTrue(stopped.lastErrLine().startsWith("ppsd-job: error: generation failed: IllegalStateException: test"
                + " hook: input partition "), stopped.lastErrLine());
        // a failed task that is no bad row: its stack trace comes first, from the job (Spark's copies are off when
        // embedded)
        assertTrue(stopped.err().contains("Caused by: java.lang.IllegalStateException: test hook: input partition ")
                && stopped.err().contains("\tat dev.ppsd.job.TestHooks"), stopped.err());
        assertEquals(6, JobTests.read(out, "parquet").size(), "two part sets of 3 rows committed");
        assertEquals("failed", summary(out).get("status").getAsString());

        // the leftovers of a kill: part set A was committed (_SUCCESS) but the kill came before it was published;
        // part set B was being written (no _SUCCESS) and already holds a finished file -- with duplicate ids
        List<Path> published = partFiles(out);
        Path staging = out.resolve(OutputDir.META).resolve(OutputDir.STAGING);
        Path committedA = staging.resolve("19700101T000000Z-dead-0000");
        moveBack(published.get(0), committedA);
        Files.writeString(committedA.resolve("_SUCCESS"), "");
        Path halfB = staging.resolve("19700101T000000Z-dead-0001");
        Files.createDirectories(halfB.resolve("_temporary"));
        Files.copy(published.get(1), halfB.resolve(published.get(1).getFileName()));
        assertEquals(3, JobTests.read(out, "parquet").size(), "readers see only published files");

        // run 2 publishes A, removes B and generates the 6 rows never committed
        JobTests.Result resumed = run(out);
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.err().contains("published part set 19700101T000000Z-dead-0000"), resumed.err());
        assertTrue(resumed.err().contains("removed part set 19700101T000000Z-dead-0001"), resumed.err());
        assertFalse(Files.exists(halfB));
        Map<String, JobTests.Out> got = JobTests.read(out, "parquet"); // fails on a repeated id
        assertEquals(want, got);
        JsonObject s = summary(out);
        assertEquals("ok", s.get("status").getAsString());
        assertEquals(6, s.get("rows_skipped").getAsLong());
        assertEquals(6, s.get("rows_ok").getAsLong());
        assertEquals(12, s.get("rows_in_output").getAsLong());

        // run 3 has nothing left to do
        JobTests.Result again = run(out);
        assertEquals(0, again.exitCode(), again.err());
        assertTrue(again.err().contains("12 input rows, 12 already in the output, 0 to generate"), again.err());
        assertEquals(want, JobTests.read(out, "parquet"));
        assertEquals(12, summary(out).get("rows_skipped").getAsLong());
    }

    @Test
    void aFolderWithOnlyTheEmptyMetaFolderOfAKilledFirstRunIsStartedAfresh() throws IOException {
        // killed between creating the output folder and writing its marker
        Path out = tmp.resolve("bare");
        Files.createDirectories(out.resolve(OutputDir.META));
        JobTests.Result r = run(out);
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(12, JobTests.read(out, "parquet").size());
    }

    @Test
    void theRerunOfAStoppedRunIntoArrowAlsoEndsWithEveryIdOnce() throws IOException {
        // Arrow goes through the job's own task commit (temp file + rename) instead of Spark's committer
        Path out = tmp.resolve("arrow-out");
        JobTests.Result stopped = run(out, "--output-format", "arrow", "--conf", TestHooks.FAIL_FROM_PARTITION + "=1");
        assertEquals(1, stopped.exitCode(), stopped.err());
        int before = JobTests.read(out, "arrow").size();
        assertTrue(before < 12, "stopped part-way: " + before);
        assertEquals(0, run(out).exitCode());
        Map<String, JobTests.Out> got = JobTests.read(out, "arrow");
        assertEquals(12, got.size());
    }

    @Test
    void withSeveralSamplesPerRowTheRerunWritesEachIdAndSampleIndexOnce() throws IOException {
        Path reference = tmp.resolve("n-reference");
        assertEquals(0, run(reference, "--n", "2").exitCode());
        Map<String, JobTests.Out> want = JobTests.readSamples(reference);
        assertEquals(24, want.size(), "12 rows x 2 samples");
        assertTrue(want.get("1/0") != null && want.get("1/1") != null, want.keySet().toString());

        Path out = tmp.resolve("n-out");
        JobTests.Result stopped = run(out, "--n", "2", "--conf", TestHooks.FAIL_FROM_PARTITION + "=2");
        assertEquals(1, stopped.exitCode(), stopped.err());
        assertEquals(12, JobTests.readSamples(out).size(), "two part sets of 3 rows x 2 samples committed");

        JobTests.Result resumed = run(out, "--n", "2");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.err().contains("12 input rows, 6 already in the output, 6 to generate"), resumed.err());
        assertEquals(want, JobTests.readSamples(out));
        JsonObject s = summary(out);
        assertEquals(6, s.get("rows_skipped").getAsLong());
        assertEquals(12, s.get("rows_ok").getAsLong(), "output rows written by this run");
        assertEquals(24, s.get("rows_in_output").getAsLong());
    }
}
