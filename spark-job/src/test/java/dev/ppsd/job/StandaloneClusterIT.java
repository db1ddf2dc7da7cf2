package dev.ppsd.job;

import dev.ppsd.engine.settings.Settings;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.udf.RowSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The job on a real Spark standalone cluster (Master, Worker and executor JVMs on 127.0.0.1), submitted the way
 * spark-submit does it ({@code org.apache.spark.deploy.SparkSubmit} in a child JVM, client mode) with the assembly
 * jar {@code mvn package} built: the output is checked row by row against the engine called directly with the
 * seeds derived from the ids; then a driver killed part-way (SIGKILL once its first part set is published) is
 * resumed by a second submission. Runs in {@code mvn verify} (failsafe, after package).
 */
class StandaloneClusterIT {
    static final Duration START = Duration.ofSeconds(90);
    static final Duration JOB = Duration.ofSeconds(300);
    static final int MAX_NEW = 4;
    static final double TEMPERATURE = 0.8;
    static final long SEED = 2;

    static Path dir;
    static StandaloneCluster cluster;
    static Path assembly;

    @BeforeAll
    static void startCluster() throws Exception {
        assembly = Path.of(System.getProperty("ppsd.job.assembly", "target/ppsd-spark-job-0.1.0-SNAPSHOT-all.jar"));
        Path sparkLib = Path.of(System.getProperty("ppsd.job.sparkLib", "target/spark-lib"));
        assertTrue(Files.isRegularFile(assembly), "run `mvn package` first: no " + assembly);
        assertTrue(Files.isDirectory(sparkLib), "run `mvn package` first: no " + sparkLib);
        dir = Path.of("target", "it-cluster").toAbsolutePath();
        StandaloneCluster.delete(dir);
        Files.createDirectories(dir);
        cluster = StandaloneCluster.start(dir, sparkLib, START);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Starts {@code spark-submit --master spark://... --class dev.ppsd.job.GenerateJob <assembly> args...}. */
    static Process submit(String name, List<String> jobArgs) throws IOException {
        String cache = System.getProperty("DJL_CACHE_DIR", Path.of("target", "ppsd-cache", "djl").toAbsolutePath()
                .toString());
        String djl = "-Dai.djl.offline=true -DOPT_OUT_TRACKING=true -Dai.djl.pytorch.num_threads=1"
                + " -Dai.djl.pytorch.num_interop_threads=1 -DDJL_CACHE_DIR=" + cache + " -DENGINE_CACHE_DIR=" + cache;
        List<String> cmd = new ArrayList<>(List.of(StandaloneCluster.java(), "-Xmx1g", "-cp", cluster.classpath()));
        cmd.addAll(StandaloneCluster.ADD_OPENS);
        cmd.addAll(List.of(djl.split(" ")));
        cmd.addAll(List.of("org.apache.spark.deploy.SparkSubmit",
                "--master", cluster.masterUrl, "--deploy-mode", "client", "--name", "ppsd-it-" + name,
                "--class", "dev.ppsd.job.GenerateJob",
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--conf", "spark.ui.enabled=false",
                "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
                "--conf", "spark.executor.extraJavaOptions=" + djl,
                "--conf", "spark.executorEnv.OPT_OUT_TRACKING=true",
                assembly.toString()));
        cmd.addAll(jobArgs);
        return cluster.start(name, cmd);
    }

    static List<String> jobArgs(Path input, Path output, String... more) {
        List<String> a = new ArrayList<>(List.of("--input", input.toString(), "--output", output.toString(),
                "--output-format", "jsonl", "--model", JobTests.model().toString(),
                "--max-new-tokens", String.valueOf(MAX_NEW), "--temperature", String.valueOf(TEMPERATURE),
                "--seed", String.valueOf(SEED), "--partitions", "4", "--partitions-per-commit", "1"));
        a.addAll(List.of(more));
        return a;
    }

    static int await(String name, Process p) throws InterruptedException {
        if (!p.waitFor(JOB.toMillis(), TimeUnit.MILLISECONDS)) {
            StandaloneCluster.end(p, Duration.ofSeconds(5));
            throw new AssertionError(name + " did not finish within " + JOB + ":\n" + cluster.tail(name));
        }
        return p.exitValue();
    }

    /** The output's rows by id, read from its JSON Lines part files; fails on a repeated id. */
    static Map<String, JsonObject> rows(Path out) throws IOException {
        Map<String, JsonObject> byId = new TreeMap<>();
        if (!Files.isDirectory(out)) {
            return byId;
        }
        try (Stream<Path> s = Files.list(out)) {
            for (Path f : s.filter(p -> p.getFileName().toString().matches("part-.*\\.json")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                    String id = o.get("id").getAsString();
                    if (byId.put(id, o) != null) {
                        throw new AssertionError("id " + id + " is in the output twice");
                    }
                }
            }
        }
        return byId;
    }

    /** Whether {@code staging} holds a part set that is still being written (no {@code _SUCCESS} yet). */
    private static boolean hasUncommittedPartSet(Path staging) throws IOException {
        if (!Files.isDirectory(staging)) {
            return false;
        }
        try (Stream<Path> s = Files.list(staging)) {
            return s.anyMatch(set -> Files.isDirectory(set) && !Files.exists(set.resolve(OutputDir.SUCCESS)));
        }
    }

    private static boolean hasEntries(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isPresent();
        }
    }

    /** What the engine gives each prompt called directly, with the seed the job derives from the row's id. */
    static Map<String, String> oracle(List<Object[]> rows) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (Object[] r : rows) {
            String id = String.valueOf(r[0]);
            requests.add(new GenerationRequest(id, (String) r[1], SamplingParams.greedy(MAX_NEW).withValue(Settings.TEMPERATURE, (float) TEMPERATURE).withValue(Settings.SEED, RowSeeds.forRow(SEED, id))));
        }
        Map<String, String> want = new HashMap<>();
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(JobTests.model()))) {
            for (GenerationResult g : e.generate(requests)) {
                want.put(g.id(), g.text());
            }
        }
        return want;
    }

    static void assertSameAsEngine(Map<String, JsonObject> got, Map<String, String> want) {
        assertEquals(new TreeMap<>(want).keySet(), got.keySet());
        for (Map.Entry<String, JsonObject> e : got.entrySet()) {
            JsonObject o = e.getValue();
            assertTrue(o.get("error").isJsonNull(), o.toString());
            assertEquals(want.get(e.getKey()), o.get("generated_text").getAsString(), "row " + o);
        }
    }

    @Test
    void aSubmittedJobWritesEveryRowWithTheTextTheEngineGives() throws Exception {
        List<Object[]> rows = JobTests.rows(8);
        Path input = JobTests.jsonl(dir.resolve("eight.jsonl"), rows);
        Path out = dir.resolve("out-eight");
        Process p = submit("submit-eight", jobArgs(input, out));
        assertEquals(0, await("submit-eight", p), cluster.tail("submit-eight"));
        String log = Files.readString(cluster.logs.resolve("submit-eight.log"));
        assertTrue(log.contains("ppsd-job: wrote 8 rows to "), log);
        assertTrue(log.contains("(spark-submit)"), "the job saw it was submitted:\n" + log);
        assertSameAsEngine(rows(out), oracle(rows));
        JsonObject summary = JsonParser.parseString(Files.readString(out.resolve("_SUMMARY.json"))).getAsJsonObject();
        assertEquals(8, summary.get("rows_ok").getAsLong());
        assertTrue(summary.getAsJsonObject("settings").get("master").getAsString().startsWith(cluster.masterUrl));
        // what speculation auto learned, reported by the executors' tasks (the driver opened no engine)
        JsonObject learned = summary.getAsJsonObject("speculation");
        assertTrue(learned != null && !learned.keySet().isEmpty() && !learned.has("driver"), summary.toString());
        learned.entrySet().forEach(e -> assertTrue(e.getValue().getAsString().contains("cycles drafted"), e.toString()));
    }

    @Test
    void aDriverKilledPartWayIsResumedByTheNextSubmissionWithEveryIdOnce() throws Exception {
        List<Object[]> rows = JobTests.rows(12);
        Path input = JobTests.jsonl(dir.resolve("twelve.jsonl"), rows);
        Path out = dir.resolve("out-twelve");

        // every row waits 500 ms before it is written: a part set (3 rows) takes > 1.5 s after its engine work
        Process first = submit("killed", jobArgs(input, out, "--conf", TestHooks.ROW_DELAY_MS + "=500"));
        // kill once a part set is published and another one is being written (its staging folder exists, without
        // _SUCCESS: the part sets run side by side, and one committed a moment ago may be published before the kill
        // lands, leaving nothing in flight)
        Path staging = out.resolve(OutputDir.META).resolve(OutputDir.STAGING);
        long end = System.nanoTime() + JOB.toNanos();
        while (rows(out).isEmpty() || !hasUncommittedPartSet(staging)) {
            assertTrue(first.isAlive(), "the first run ended before it was killed:\n" + cluster.tail("killed"));
            assertTrue(System.nanoTime() < end, "no part set published within " + JOB + ":\n" + cluster.tail("killed"));
            Thread.sleep(50);
        }
        first.destroyForcibly(); // SIGKILL, the driver gets no chance to clean up
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        int committed = rows(out).size();
        assertTrue(committed > 0 && committed < 12, "killed part-way: " + committed + " of 12 rows committed");

        Process second = submit("resumed", jobArgs(input, out));
        assertEquals(0, await("resumed", second), cluster.tail("resumed"));
        String log = Files.readString(cluster.logs.resolve("resumed.log"));
        assertTrue(log.contains("that an earlier run left unfinished") || log.contains("that an earlier run committed"
                + " but had not published"), "the part set in flight at the kill was cleaned up:\n" + log);
        assertTrue(!hasEntries(staging), "staging is empty after a successful run");
        Map<String, JsonObject> got = rows(out); // every id exactly once
        assertSameAsEngine(got, oracle(rows));
        JsonObject summary = JsonParser.parseString(Files.readString(out.resolve("_SUMMARY.json"))).getAsJsonObject();
        long skipped = summary.get("rows_skipped").getAsLong();
        // a part set committed but not yet published at the kill is published by the second run, not regenerated
        assertTrue(skipped >= committed, "skipped " + skipped + " of the " + committed + " committed rows");
        assertEquals(12, skipped + summary.get("rows_ok").getAsLong(), summary.toString());
    }
}
