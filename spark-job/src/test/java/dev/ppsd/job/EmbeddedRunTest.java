package dev.ppsd.job;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's command (1) as a test: no Spark session is running, no --master, not under spark-submit, so the job
 * starts Spark in local mode itself, generates {@code data/prompts/sample.jsonl}, prints where the output went and
 * the summary, and stops Spark again.
 */
class EmbeddedRunTest {
    @TempDir
    Path tmp;

    @Test
    void withoutMasterTheJobRunsSparkInLocalModeAndStopsIt() throws IOException {
        SparkSession.getActiveSession().foreach(s -> {
            s.stop();
            return null;
        });
        SparkSession.clearActiveSession();
        SparkSession.clearDefaultSession();
        Path sample = Path.of("../data/prompts/sample.jsonl").toAbsolutePath().normalize();
        Path out = tmp.resolve("ppsd-out");

        JobTests.Result r = JobTests.run("--input", sample.toString(), "--output", out.toString(), "--mode", "ppsd");

        assertEquals(0, r.exitCode(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("ppsd-job: wrote 12 rows to " + out.toUri().toString().replaceAll("/$", "").replace("file:///",
                "file:/") + " (parquet)", lines.get(0), r.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("  rows      12 ok, 0 failed, 0 skipped")), r.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("  settings  mode=ppsd max_new_tokens=4")), r.out());
        assertTrue(lines.stream().anyMatch(l -> l.matches("  master    local\\[\\*] \\(embedded\\)")), r.out());
        JsonObject s = JsonParser.parseString(Files.readString(out.resolve("_SUMMARY.json"))).getAsJsonObject();
        assertEquals(12, s.get("rows_ok").getAsLong());
        assertTrue(s.get("new_tokens").getAsLong() > 0);
        assertTrue(s.get("prompt_tokens").getAsLong() > 0);
        assertEquals("ppsd", s.getAsJsonObject("settings").get("mode").getAsString());
        // what speculation auto learned, from the tasks (which ran in this JVM: executor "driver"), summed up and printed
        String learned = s.getAsJsonObject("speculation").get("driver").getAsString();
        assertTrue(learned.matches("(1 seq|\\d+-\\d+ seqs): (draft|ar-pipe|lockstep) \\(.*cycles drafted.*probe.*"), learned);
        assertTrue(lines.contains("  auto      " + learned), r.out());
        assertTrue(SparkSession.getDefaultSession().isEmpty()
                || SparkSession.getDefaultSession().get().sparkContext().isStopped(), "the job stopped its Spark");
    }

    @Test
    void theBundledModelIsLookedForAboveTheJarAndNamedWhenMissing() throws IOException {
        Path repo = tmp.resolve("repo");
        Path bundled = Files.createDirectories(repo.resolve(ModelLocation.BUNDLED));
        Files.writeString(bundled.resolve("config.json"), "{}");
        assertEquals(bundled.toString(), ModelLocation.bundled(List.of(tmp, repo)));
        JobException e = assertThrows(JobException.class, () -> ModelLocation.bundled(List.of(tmp)));
        assertEquals("no --model given and the bundled model models/ppsd-mini is missing (looked in "
                + tmp.resolve(ModelLocation.BUNDLED) + "): train it as the README says, or pass --model DIR",
                e.getMessage());
        assertEquals(JobException.USAGE, e.exitCode());
    }
}
