package dev.ppsd.job;

import org.junit.jupiter.api.Assumptions;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs of the embedded job ({@code bin/ppsd-job} without {@code --master}) as {@code mvn package} built it, on the
 * sample prompts with the bundled model, under a tool such as {@code strace}: the failsafe tests of what the job's
 * JVM does to the machine ({@link EmbeddedNetworkIT}, {@link EmbeddedChildProcessesIT}).
 */
final class EmbeddedJobRuns {
    static final long JOB_SECONDS = 300;

    final Path repo;
    final Path launcher;
    final Path work;

    private EmbeddedJobRuns(Path repo, Path work) {
        this.repo = repo;
        this.launcher = repo.resolve("bin/ppsd-job");
        this.work = work;
    }

    /**
     * The launcher and a work folder {@code spark-job/target/<folder>}, when {@code tools} (commands with arguments
     * that must exit 0, each with the reason it may not) work here; skipped saying so when one does not, except
     * under CI ({@code CI=true}), where it fails ({@code .ci/run} installs them and runs as root).
     */
    static EmbeddedJobRuns open(String folder, String what, String[][] tools) throws IOException {
        Path repo = repo();
        Path target = repo.resolve("spark-job/target");
        assertTrue(Files.isDirectory(target.resolve("lib")) && Files.isDirectory(target.resolve("spark-lib")),
                "run `mvn package` first: no " + target.resolve("lib") + " / spark-lib");
        String missing = null;
        for (String[] tool : tools) {
            if (missing == null && !works(List.of(tool).subList(1, tool.length))) {
                missing = tool[0];
            }
        }
        if (!"true".equals(System.getenv("CI"))) {
            Assumptions.assumeTrue(missing == null, missing + ": " + what + " is not checked");
        }
        assertTrue(missing == null, missing + ": .ci/run must install strace and run as root");
        return new EmbeddedJobRuns(repo, Files.createDirectories(target.resolve(folder)));
    }

    /** The repository root: the folder above the working folder that holds {@code bin/ppsd-job}. */
    static Path repo() {
        Path repo = Path.of("").toAbsolutePath();
        while (!Files.isRegularFile(repo.resolve("bin/ppsd-job"))) {
            repo = repo.getParent();
            assertTrue(repo != null, "repository root (with bin/ppsd-job) not found");
        }
        return repo;
    }

    private static boolean works(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Runs {@code prefix... bin/ppsd-job --input sample.jsonl --output DIR --max-new-tokens 2 jobArgs...}, checks
     * that it generated the 12 rows embedded, and returns its output.
     */
    String runJob(String name, List<String> prefix, String... jobArgs) throws Exception {
        Path out = work.resolve(name + "-out");
        StandaloneCluster.delete(out);
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(launcher.toString(), "--input", repo.resolve("data/prompts/sample.jsonl").toString(),
                "--output", out.toString(), "--max-new-tokens", "2"));
        cmd.addAll(List.of(jobArgs));
        Path log = work.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        String cache = System.getProperty("DJL_CACHE_DIR");
        if (cache != null && cache.endsWith(File.separator + "djl")) {
            pb.environment().put("PPSD_CACHE", cache.substring(0, cache.length() - 4)); // the tests' DJL cache
        }
        Process p = pb.start();
        if (!p.waitFor(JOB_SECONDS, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(name + ": the job did not finish within " + JOB_SECONDS + " s:\n"
                    + Files.readString(log));
        }
        String text = Files.readString(log);
        assertEquals(0, p.exitValue(), name + ": exit code\n" + text);
        assertTrue(text.contains("rows      12 ok, 0 failed"), name + ": 12 rows generated\n" + text);
        assertTrue(text.contains("master    local[*] (embedded)"), name + ": embedded\n" + text);
        return text;
    }
}
