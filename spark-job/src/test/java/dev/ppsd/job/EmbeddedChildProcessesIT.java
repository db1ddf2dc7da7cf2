package dev.ppsd.job;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded job starts no {@code chmod} process per file it writes. Hadoop's local file system, without its
 * native library (Spark ships none), sets each new file's and folder's mode by running {@code chmod}; the embedded
 * job's {@link NioLocalFileSystem} sets it in the JVM. Runs {@code bin/ppsd-job} under
 * {@code strace -f -e trace=execve} twice: as built, where no {@code chmod} runs, and with Hadoop's own
 * {@code LocalFileSystem} ({@code --conf spark.hadoop.fs.file.impl=...}), where it does (so that the count can see
 * one), and every output file and folder has the same mode in both. Needs strace: skipped saying so without it,
 * except under CI. A failsafe test ({@link EmbeddedJobRuns}).
 */
class EmbeddedChildProcessesIT {
    static EmbeddedJobRuns runs;

    @BeforeAll
    static void launcherAndStrace() throws Exception {
        runs = EmbeddedJobRuns.open("it-embedded-processes", "the embedded job's child processes", new String[][] {
            {"strace is not installed (apt-get install strace)", "strace", "-f", "-qq", "-e", "trace=execve", "true"}});
    }

    /** Runs the job under strace; returns how many chmod programs it ran (successful execve calls). */
    private static long chmodsRun(String name, String... jobArgs) throws Exception {
        Path trace = runs.work.resolve(name + ".trace");
        Files.deleteIfExists(trace);
        runs.runJob(name, List.of("strace", "-f", "-qq", "-e", "trace=execve", "-o", trace.toString()), jobArgs);
        try (Stream<String> lines = Files.lines(trace)) {
            return lines.filter(l -> l.matches(".*execve\\(\"[^\"]*/chmod\".*= 0\\s*")).count();
        }
    }

    /** Every file and folder of a job's output, its run-specific ids masked, with its mode (e.g. 644). */
    private static Map<String, String> modes(String name) throws Exception {
        Path out = runs.work.resolve(name + "-out");
        Map<String, String> modes = new TreeMap<>();
        try (Stream<Path> files = Files.walk(out)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                int mode = (Integer) Files.getAttribute(f, "unix:mode");
                modes.put(out.relativize(f).toString().replaceAll("[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID"),
                        Integer.toOctalString(mode & 07777));
            }
        }
        return modes;
    }

    @Test
    void theEmbeddedJobWritesItsFilesWithoutChmodProcesses() throws Exception {
        long nio = chmodsRun("nio");
        long hadoop = chmodsRun("hadoop-local", "--conf",
                "spark.hadoop.fs.file.impl=org.apache.hadoop.fs.LocalFileSystem");
        System.out.printf("[EmbeddedChildProcessesIT] chmod processes: %d as built, %d with Hadoop's LocalFileSystem%n",
                nio, hadoop);
        assertTrue(hadoop > 0, "strace saw no chmod with Hadoop's own LocalFileSystem: the count cannot see one");
        assertEquals(0, nio, "the embedded job ran chmod " + nio + " times (" + runs.work.resolve("nio.trace") + ")");
        Map<String, String> nioModes = modes("nio");
        assertTrue(nioModes.keySet().stream().anyMatch(f -> f.endsWith(".parquet")), nioModes.toString());
        assertEquals(modes("hadoop-local"), nioModes, "the output's modes with and without chmod");
    }
}
