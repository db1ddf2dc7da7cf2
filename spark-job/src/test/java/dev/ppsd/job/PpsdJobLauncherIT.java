package dev.ppsd.job;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bin/ppsd-job} starts its JVM with the C allocator {@code PPSD_MALLOC} names, as {@code bin/ppsd} does (both
 * source bin/lib/malloc.sh; tools' BinPpsdIT covers every case and a real JVM): jemalloc by default where the system
 * has it, a library's path when given, one line and exit 2 for a missing one. And with the class-data archive
 * {@code PPSD_CDS} asks for (bin/lib/cds.sh): the build's by default, none with {@code off}, a new one with
 * {@code record}. Their JAVA_HOME is a java that prints its LD_PRELOAD or its arguments, or the real one. A failsafe
 * test: the launcher wants what {@code mvn package} built.
 */
class PpsdJobLauncherIT {
    @TempDir
    Path tmp;

    private record Result(int code, String out, String err) {
    }

    private Result launch(Map<String, String> env) throws Exception {
        return launch(env, "echo \"LD_PRELOAD=[${LD_PRELOAD:-}]\"");
    }

    private static Path repo() {
        return EmbeddedJobRuns.repo();
    }

    /**
     * bin/ppsd-job with {@code args} (none: --help) and {@code env}, its java a script running {@code javaScript};
     * null: the real java.
     */
    private Result launch(Map<String, String> env, String javaScript, String... args) throws Exception {
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        Process p = launcher(env, javaScript, args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "bin/ppsd-job did not finish in 120 s");
        return new Result(p.exitValue(), Files.readString(out).strip(), Files.readString(err).strip());
    }

    /**
     * The process of {@link #launch}, not started: the launcher's and the JVM's option variables of this environment
     * left out, {@code env} put in.
     */
    private ProcessBuilder launcher(Map<String, String> env, String javaScript, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("bash", repo().resolve("bin/ppsd-job").toString()));
        command.addAll(args.length == 0 ? List.of("--help") : List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        for (String v : List.of("LD_PRELOAD", "PPSD_CDS", "PPSD_CDS_ARCHIVE", "PPSD_JAVA_OPTS", "JAVA_TOOL_OPTIONS",
                "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")) {
            pb.environment().remove(v);
        }
        if (javaScript != null) {
            Path java = Files.createDirectories(tmp.resolve("jdk/bin")).resolve("java");
            Files.writeString(java, "#!/usr/bin/env bash\n" + javaScript + "\n");
            Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
            pb.environment().put("JAVA_HOME", tmp.resolve("jdk").toString());
        }
        pb.environment().putAll(env);
        return pb;
    }

    @Test
    void theJobsJvmRunsWithTheAllocatorPpsdMallocNames() throws Exception {
        Path lib = Files.createFile(tmp.resolve("libmymalloc.so"));
        assertEquals("LD_PRELOAD=[" + lib + "]", launch(Map.of("PPSD_MALLOC", lib.toString())).out());
        assertEquals("LD_PRELOAD=[]", launch(Map.of("PPSD_MALLOC", "system")).out());
        Result missing = launch(Map.of("PPSD_MALLOC", "/no/such/libjemalloc.so.2"));
        assertEquals(2, missing.code());
        assertEquals("", missing.out());
        assertEquals(1, missing.err().lines().count(), missing.err());
        assertTrue(missing.err().startsWith("ppsd-job: PPSD_MALLOC: no such library: /no/such/libjemalloc.so.2"),
                missing.err());
        boolean jemalloc = List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/lib").stream().anyMatch(d -> Files.isRegularFile(Path.of(d, "libjemalloc.so.2")));
        String auto = launch(Map.of()).out();
        assertTrue(jemalloc ? auto.matches("LD_PRELOAD=\\[/.*/libjemalloc\\.so\\.2]") : auto.equals("LD_PRELOAD=[]"),
                auto);
    }

    /** The class-data options the launcher gives its java, as a java that prints its arguments sees them. */
    private String cdsOptions(Map<String, String> env) throws Exception {
        Result r = launch(env, "printf '%s\\n' \"$@\"");
        assertEquals(0, r.code(), r.err());
        return String.join(" ", r.out().lines().filter(a -> a.contains("Archive") || a.startsWith("-Xlog:cds"))
                .toList());
    }

    @Test
    void theJobsJvmMapsTheClassDataArchivePpsdCdsAsksFor() throws Exception {
        Path archive = Files.writeString(tmp.resolve("job.jsa"), "an archive");
        assertEquals("-XX:SharedArchiveFile=" + archive + " -Xlog:cds*=off",
                cdsOptions(Map.of("PPSD_CDS_ARCHIVE", archive.toString())));
        assertEquals("", cdsOptions(Map.of("PPSD_CDS_ARCHIVE", archive.toString(), "PPSD_CDS", "off")));
        assertEquals("", cdsOptions(Map.of("PPSD_CDS_ARCHIVE", tmp.resolve("none.jsa").toString())));
        // no archive for a JVM with a Java agent or Flight Recorder from its start, wherever the flag comes from
        for (Map.Entry<String, String> hook : List.of(Map.entry("PPSD_JAVA_OPTS", "-Xmx2g -javaagent:/opt/apm.jar"),
                Map.entry("PPSD_JAVA_OPTS", "-XX:StartFlightRecording:filename=/tmp/r.jfr"),
                Map.entry("JAVA_TOOL_OPTIONS", "-agentpath:/opt/libprofiler.so"),
                Map.entry("JDK_JAVA_OPTIONS", "-agentlib:jdwp=transport=dt_socket"),
                Map.entry("_JAVA_OPTIONS", "-XX:StartFlightRecording"))) {
            assertEquals("", cdsOptions(Map.of("PPSD_CDS_ARCHIVE", archive.toString(), hook.getKey(), hook.getValue())),
                    hook.toString());
        }
        assertEquals("-XX:SharedArchiveFile=" + archive + " -Xlog:cds*=off",
                cdsOptions(Map.of("PPSD_CDS_ARCHIVE", archive.toString(), "PPSD_JAVA_OPTS", "-Xmx2g")));
        // the build's archive, where the launcher looks without PPSD_CDS_ARCHIVE
        Path built = repo().resolve("spark-job/target/ppsd-job.jsa");
        assertEquals(Files.isRegularFile(built) ? "-XX:SharedArchiveFile=" + built + " -Xlog:cds*=off" : "",
                cdsOptions(Map.of()));

        Result bad = launch(Map.of("PPSD_CDS", "on"), "echo ran");
        assertEquals(2, bad.code());
        assertEquals("", bad.out());
        assertEquals("ppsd-job: PPSD_CDS must be auto, off or record, not: on", bad.err());

        // record: the JVM writes the classes at its exit to a file of its own, which replaces the archive only when
        // the run ends well; the run's exit code is the launcher's
        String recorder = "for a in \"$@\"; do case $a in -XX:ArchiveClassesAtExit=*) echo new > \"${a#*=}\";; esac;"
                + " done; echo recorded; exit ${CODE:-0}";
        Path recorded = tmp.resolve("rec/job.jsa");
        Result ok = launch(Map.of("PPSD_CDS", "record", "PPSD_CDS_ARCHIVE", recorded.toString()), recorder);
        assertEquals(0, ok.code(), ok.err());
        assertEquals("recorded", ok.out());
        assertEquals("new", Files.readString(recorded).strip());
        Files.writeString(recorded, "old");
        Result failed = launch(Map.of("PPSD_CDS", "record", "PPSD_CDS_ARCHIVE", recorded.toString(), "CODE", "3"),
                recorder);
        assertEquals(3, failed.code());
        assertEquals("old", Files.readString(recorded));
        try (var files = Files.list(recorded.getParent())) {
            assertEquals(List.of(recorded), files.toList()); // no temporary file left
        }
    }

    /** Where the real JVM loaded {@code dev.ppsd.job.GenerateJob} from, by its class-loading log. */
    private String generateJobSource(Map<String, String> env) throws Exception {
        Path log = tmp.resolve("classes-" + System.nanoTime() + ".log");
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put("PPSD_JAVA_OPTS", "-Xlog:class+load=info:file=" + log);
        Result r = launch(all, null);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: ppsd-job"), r.out()); // nothing of the JVM's before the usage
        assertEquals("", r.err());
        return Files.readAllLines(log).stream().filter(l -> l.contains(" dev.ppsd.job.GenerateJob "))
                .map(l -> l.substring(l.indexOf("source: ") + "source: ".length())).findFirst().orElseThrow();
    }

    @Test
    void aRealJvmRecordsTheArchiveAndLoadsTheJobFromIt() throws Exception {
        Path archive = tmp.resolve("help.jsa");
        Result rec = launch(Map.of("PPSD_CDS", "record", "PPSD_CDS_ARCHIVE", archive.toString()), null);
        assertEquals(0, rec.code(), rec.err());
        assertTrue(rec.out().startsWith("Usage: ppsd-job") && !rec.out().contains("cds"), rec.out());
        assertEquals("", rec.err());
        assertTrue(Files.size(archive) > 0);
        assertEquals("shared objects file (top)", generateJobSource(Map.of("PPSD_CDS_ARCHIVE", archive.toString())));
        assertTrue(generateJobSource(Map.of("PPSD_CDS_ARCHIVE", archive.toString(), "PPSD_CDS", "off"))
                .endsWith(".jar"));
        // an archive this JVM cannot use (not one at all, another JDK's, older jars): the jars, and not a word
        Path junk = Files.writeString(tmp.resolve("junk.jsa"), "not an archive");
        assertTrue(generateJobSource(Map.of("PPSD_CDS_ARCHIVE", junk.toString())).endsWith(".jar"));
        // the build's own archive (mvn package records it unless -Dppsd.cds.skip)
        if (buildsArchive()) {
            assertEquals("shared objects file (top)", generateJobSource(Map.of()));
        }
    }

    /**
     * Whether the build recorded an archive that this build's jars match (always under CI, where the build records
     * it): {@code mvn package -Dppsd.cds.skip} after a change leaves an older one, which the JVM ignores.
     */
    private static boolean buildsArchive() throws Exception {
        if (System.getenv("CI") != null) {
            return true;
        }
        Path target = repo().resolve("spark-job/target");
        Path built = target.resolve("ppsd-job.jsa");
        if (!Files.isRegularFile(built)) {
            return false;
        }
        var recorded = Files.getLastModifiedTime(built);
        for (Path dir : List.of(target, target.resolve("lib"), target.resolve("spark-lib"))) {
            try (var files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String name = f.getFileName().toString(); // (the -all jar is not on the launcher's class path)
                    if (name.endsWith(".jar") && !name.endsWith("-all.jar")
                            && Files.getLastModifiedTime(f).compareTo(recorded) >= 0) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    /**
     * What the console shows when the input or a row is bad: the job's one line, not Spark's stack traces of the task
     * that met it (its executor, task set and writer log them at ERROR; the embedded log configuration leaves them
     * out). Malformed JSON: one line naming the file and line, exit 2. A bad row under --fail-on-error: the progress
     * line and one line naming the row, exit 1.
     */
    @Test
    void aBadInputOrABadRowIsOneLineOnTheConsole() throws Exception {
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), "{\"id\": 1, \"prompt\": \"a\"}\n{not json\n");
        Result r = launch(Map.of(), null, "--input", bad.toString(), "--output", tmp.resolve("o1").toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("ppsd-job: error: input " + bad + ": line 2 is not valid JSON: Unexpected character ('n' (code"
                + " 110)): was expecting double-quote to start field name", r.err());

        Path nullPrompt = Files.writeString(tmp.resolve("null-prompt.jsonl"),
                "{\"id\": 1, \"prompt\": \"a\"}\n{\"id\": 2, \"prompt\": null}\n");
        r = launch(Map.of(), null, "--input", nullPrompt.toString(), "--output", tmp.resolve("o2").toString(),
                "--max-new-tokens", "2", "--fail-on-error");
        assertEquals(1, r.code(), r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(2, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("ppsd-job: 2 input rows, 0 already in the output, 2 to generate"), r.err());
        assertEquals("ppsd-job: error: generation failed: row id=2: prompt is null (committed part sets are kept: a"
                + " re-run resumes)", lines.get(1));
    }

    /**
     * A job that a signal stops (a scheduler's SIGTERM) says so as its last line and exits 143; what it committed
     * stays, and the next run generates only the rest.
     */
    @Test
    void aJobStoppedByASignalSaysSoAndTheNextRunResumes() throws Exception {
        Path sample = repo().resolve("data/prompts/sample.jsonl");
        Path out = tmp.resolve("stopped");
        Process p = launcher(Map.of(), null, "--input", sample.toString(), "--output", out.toString(),
                "--max-new-tokens", "2", "--partitions", "4", "--partitions-per-commit", "1", "--conf",
                TestHooks.ROW_DELAY_MS + "=1500").redirectOutput(tmp.resolve("stopped.out").toFile())
                .redirectError(tmp.resolve("stopped.err").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.readString(tmp.resolve("stopped.err")).contains("committed (") && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        // the launcher execs java: the process is the job's JVM; SIGTERM is what a scheduler sends
        assertTrue(p.toHandle().destroy(), "SIGTERM to the job's JVM");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the job did not stop");
        List<String> err = Files.readString(tmp.resolve("stopped.err")).strip().lines().toList();
        assertEquals(143, p.exitValue(), String.join("\n", err));
        assertEquals("ppsd-job: stopped by a signal before the end (committed part sets are kept: a re-run resumes)",
                err.get(err.size() - 1), String.join("\n", err));
        assertTrue(err.stream().allMatch(l -> l.startsWith("ppsd-job: ") && !l.contains("warning")
                && !l.contains("error")), "nothing but progress and that line:\n" + String.join("\n", err));
        long committed = err.stream().filter(l -> l.matches("ppsd-job: part set \\d+ committed \\(\\d+ rows.*"))
                .mapToLong(l -> Long.parseLong(l.replaceAll(".*committed \\((\\d+) rows.*", "$1"))).sum();
        assertTrue(committed > 0 && committed < 12, String.join("\n", err));
        String summary = Files.readString(out.resolve("_SUMMARY.json"));
        assertTrue(summary.contains("\"status\": \"stopped\""), summary);

        Result r = launch(Map.of(), null, "--input", sample.toString(), "--output", out.toString(), "--max-new-tokens",
                "2", "--partitions", "4", "--partitions-per-commit", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("12 input rows, " + committed + " already in the output, " + (12 - committed)
                + " to generate"), r.err());
        assertTrue(r.out().contains("rows      " + (12 - committed) + " ok, 0 failed, " + committed + " skipped"),
                r.out());
        assertFalse(r.err().contains("stopped by a signal"), r.err());
    }

    /**
     * A job whose JVM starts Flight Recorder runs to the end with the build's archive present: JDK 17 crashes when a
     * class-file load hook meets an archived class of a multi-release jar (JDK-8343427), so the launcher leaves the
     * archive out then.
     */
    @Test
    void aJobWithFlightRecorderRunsWithoutTheArchive() throws Exception {
        if (!buildsArchive()) {
            System.out.println("[PpsdJobLauncherIT] no archive of this build (mvn package -Dppsd.cds.skip?): the job"
                    + " with Flight Recorder is not run");
            return;
        }
        Result r = launch(Map.of("PPSD_JAVA_OPTS", "-XX:StartFlightRecording=filename=" + tmp.resolve("run.jfr")), null,
                "--input", repo().resolve("data/prompts/sample.jsonl").toString(), "--output",
                tmp.resolve("out").toString(), "--max-new-tokens", "4");
        assertEquals(0, r.code(), r.out() + "\n" + r.err());
        assertTrue(r.out().contains("12 ok, 0 failed"), r.out());
        assertTrue(Files.size(tmp.resolve("run.jfr")) > 0);
    }
}
