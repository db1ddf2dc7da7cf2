package dev.ppsd.job;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.apache.spark.JobExecutionStatus;
import org.apache.spark.SparkStatusTracker;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link OutputWarmUp}: an embedded run warms its write path with a row of its own, and that row shows nowhere: not
 * in the output, not in the counts, not as a failure under {@code --fail-on-error}, and its scratch folder is gone.
 */
class OutputWarmUpTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void session() {
        JobTests.spark();
    }

    @ParameterizedTest
    @ValueSource(strings = {"parquet", "jsonl", "csv", "arrow"})
    void theWarmUpRunsAndLeavesNoTraceInTheOutputTheCountsOrTheTempFolder(String format) throws IOException {
        Set<Path> before = scratchFolders();
        // good rows only, and fail_on_error: the warm-up's own row (an error row) must not fail the run
        Path input = JobTests.jsonl(tmp.resolve("in.jsonl"), JobTests.rows(5));
        Path out = tmp.resolve("out-" + format);

        JobTests.Result r = JobTests.run("--input", input.toString(), "--output", out.toString(), "--output-format",
                format, "--fail-on-error");

        assertEquals(0, r.exitCode(), r.err());
        JsonObject s = JsonParser.parseString(Files.readString(out.resolve("_SUMMARY.json"))).getAsJsonObject();
        assertEquals(5, s.get("rows_ok").getAsLong());
        assertEquals(0, s.get("rows_failed").getAsLong());
        assertEquals(5, s.get("rows_in_output").getAsLong());
        assertEquals(5, JobTests.read(out, format).size(), "the output holds the input's rows, no others");
        // it did run, in this run's job group, and succeeded
        SparkStatusTracker tracker = SparkSession.active().sparkContext().statusTracker();
        int[] jobs = tracker.getJobIdsForGroup("ppsd-" + s.get("run_id").getAsString() + "-warm-up");
        assertTrue(jobs.length > 0, "no warm-up job ran");
        for (int id : jobs) {
            assertEquals(JobExecutionStatus.SUCCEEDED, tracker.getJobInfo(id).get().status());
        }
        assertEquals(before, scratchFolders(), "the warm-up's scratch folder is left behind");
    }

    @Test
    void aCheckThatFailsWhileTheWarmUpRunsStillFailsInItsOwnWordsAndCleansUp() throws IOException {
        Set<Path> before = scratchFolders();
        List<Object[]> rows = JobTests.rows(3);
        rows.add(rows.get(0)); // a duplicate id: found by a check that runs after the warm-up started
        Path input = JobTests.jsonl(tmp.resolve("dup.jsonl"), rows);

        JobTests.Result r = JobTests.run("--input", input.toString(), "--output", tmp.resolve("out2").toString());

        assertEquals(JobException.USAGE, r.exitCode(), r.err());
        assertEquals("ppsd-job: error: duplicate ids in input column 'id': '1' (2 rows); every row needs a unique id",
                r.lastErrLine());
        assertEquals(before, scratchFolders(), "the warm-up's scratch folder is left behind");
    }

    private static Set<Path> scratchFolders() throws IOException {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return s.filter(p -> p.getFileName().toString().startsWith(OutputWarmUp.SCRATCH_PREFIX))
                    .collect(Collectors.toSet());
        }
    }
}
