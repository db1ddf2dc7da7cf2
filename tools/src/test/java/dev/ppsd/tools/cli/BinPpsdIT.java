package dev.ppsd.tools.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code bin/ppsd} launcher as a user runs it. It builds nothing, so the tests that start the JVM need the
 * jars of an earlier {@code mvn package} (tools/target/ppsd-tools-*.jar and tools/target/lib) and are skipped
 * with that reason otherwise; they only check what any build of the CLI does (the jar may predate these sources).
 */
class BinPpsdIT {
    /** The repository root: the tests run in engine/. */
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();
    private static final Path LAUNCHER = ROOT.resolve("bin/ppsd");

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    private static Result launch(Path launcher, String... args) throws IOException, InterruptedException {
        return launch(launcher, Map.of(), args);
    }

    private static Result launch(Path launcher, Map<String, String> env, String... args)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", launcher.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("LD_PRELOAD"); // the launcher's choice, not the caller's
        pb.environment().putAll(env);
        Path out = Files.createTempFile("ppsd-out", ".txt");
        Path err = Files.createTempFile("ppsd-err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.PIPE);
        Process p = pb.start();
        p.getOutputStream().close();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("bin/ppsd " + String.join(" ", args) + " did not finish in 90 s");
        }
        Result r = new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
        Files.delete(out);
        Files.delete(err);
        return r;
    }

    private static void requireBuilt() throws IOException {
        Path target = ROOT.resolve("tools/target");
        boolean jar;
        try (Stream<Path> s = Files.list(target)) {
            jar = s.map(p -> p.getFileName().toString())
                    .anyMatch(n -> n.startsWith("ppsd-tools-") && n.endsWith(".jar") && !n.contains("-sources")
                            && !n.contains("-tests"));
        } catch (IOException e) {
            jar = false;
        }
        assertTrue(jar && Files.isDirectory(target.resolve("lib")),
                "bin/ppsd runs the packaged jars: run 'mvn -DskipTests package' first (tools/target/ppsd-tools-*.jar "
                        + "and tools/target/lib are missing)");
    }

    @Test
    void withoutArgumentsPrintsUsage() throws Exception {
        requireBuilt();
        Result r = launch(LAUNCHER);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.out().startsWith("usage: ppsd <command>"), r.out());
        assertTrue(r.out().contains("generate"), r.out());
    }

    @Test
    void missingModelIsOneErrorLineWithExitCode2() throws Exception {
        requireBuilt();
        Path model = tmp.resolve("no-such-model");
        Result r = launch(LAUNCHER, "generate", "--model", model.toString(), "--prompt", "In the beginning");
        assertEquals(2, r.code(), r.err());
        assertEquals("", r.out());
        String[] lines = r.err().strip().split("\\R");
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].startsWith("ppsd: error: " + model.resolve("config.json") + ": missing file"), r.err());
    }

    @Test
    void generateWithoutOptionsFailsWithExitCode2() throws Exception {
        requireBuilt();
        Result r = launch(LAUNCHER, "generate");
        assertEquals(2, r.code(), r.err());
        // current sources print the generate usage; older builds report the missing --model
        assertTrue(r.out().contains("usage: ppsd generate") || r.err().contains("missing required option --model"),
                r.out() + r.err());
    }

    @Test
    void unbuiltCheckoutSaysHowToBuild() throws Exception {
        // a copy of the launcher in a tree without tools/target: it must say so instead of failing obscurely
        Path bin = Files.createDirectories(tmp.resolve("checkout/bin"));
        Path copy = Files.copy(LAUNCHER, bin.resolve("ppsd"));
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
        Result r = launch(copy, "generate", "--model", "m", "--prompt", "p");
        assertEquals(3, r.code(), r.err());
        assertTrue(r.err().contains("the tools are not built yet") && r.err().contains("mvn -q -DskipTests package"),
                r.err());
    }

    /**
     * {@code generate} and {@code bench} run the JVM with C1 only, the other commands with the default JIT, and
     * {@code PPSD_JAVA_OPTS} comes after it (a JAVA_HOME whose java prints its arguments).
     */
    @Test
    void decodingCommandsRunC1Only() throws Exception {
        requireBuilt();
        Map<String, String> env = Map.of("JAVA_HOME", fakeJavaHome("echo \"$@\""));
        for (String command : List.of("generate", "bench")) {
            Result r = launch(LAUNCHER, env, command, "--help");
            assertTrue(r.out().contains("-XX:TieredStopAtLevel=1 "), command + ": " + r.out());
        }
        for (String command : List.of("train", "train-tokenizer", "random-model", "eval")) {
            Result r = launch(LAUNCHER, env, command, "--help");
            assertTrue(r.out().contains("dev.ppsd.tools.cli.Main " + command) && !r.out().contains("TieredStopAtLevel"),
                    command + ": " + r.out());
        }
        Result c2 = launch(LAUNCHER, Map.of("JAVA_HOME", env.get("JAVA_HOME"), "PPSD_JAVA_OPTS",
                "-XX:TieredStopAtLevel=4"), "generate");
        assertTrue(c2.out().indexOf("-XX:TieredStopAtLevel=1 ") < c2.out().indexOf("-XX:TieredStopAtLevel=4"),
                c2.out());
    }

    /**
     * {@code PPSD_MALLOC} picks the C allocator: a library's path is preloaded before an {@code LD_PRELOAD} already
     * set, {@code system} preloads nothing, a missing file is one line naming the variable and exit 2, and {@code auto}
     * (the default) preloads the system's jemalloc and leaves a preload of the user's alone (a JAVA_HOME whose java
     * prints its LD_PRELOAD).
     */
    @Test
    void ppsdMallocPicksTheAllocator() throws Exception {
        requireBuilt();
        String home = fakeJavaHome("echo \"LD_PRELOAD=[${LD_PRELOAD:-}]\"");
        Path lib = Files.createFile(tmp.resolve("libmymalloc.so"));
        assertEquals("LD_PRELOAD=[" + lib + "]", launch(LAUNCHER, Map.of("JAVA_HOME", home, "PPSD_MALLOC",
                lib.toString()), "generate").out().strip());
        assertEquals("LD_PRELOAD=[" + lib + ":/x/libother.so]", launch(LAUNCHER, Map.of("JAVA_HOME", home,
                "PPSD_MALLOC", lib.toString(), "LD_PRELOAD", "/x/libother.so"), "generate").out().strip());
        assertEquals("LD_PRELOAD=[]", launch(LAUNCHER, Map.of("JAVA_HOME", home, "PPSD_MALLOC", "system"),
                "generate").out().strip());
        Result missing = launch(LAUNCHER, Map.of("JAVA_HOME", home, "PPSD_MALLOC", "/no/such/libjemalloc.so.2"),
                "generate");
        assertEquals(2, missing.code());
        assertEquals("", missing.out());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertTrue(missing.err().contains("PPSD_MALLOC") && missing.err().contains("/no/such/libjemalloc.so.2"),
                missing.err());
        assertEquals("LD_PRELOAD=[/x/libother.so]", launch(LAUNCHER, Map.of("JAVA_HOME", home, "LD_PRELOAD",
                "/x/libother.so"), "generate").out().strip());
        Path jemalloc = systemJemalloc();
        String auto = launch(LAUNCHER, Map.of("JAVA_HOME", home), "generate").out().strip();
        if (jemalloc != null) {
            assertTrue(auto.startsWith("LD_PRELOAD=[") && auto.endsWith("/libjemalloc.so.2]"), auto);
        } else {
            assertEquals("LD_PRELOAD=[]", auto);
        }
    }

    /**
     * The real JVM runs with the allocator the launcher preloads: bench's {@code --json} names it ({@code machine.
     * malloc}, read from the process's own mappings), jemalloc with {@code PPSD_MALLOC} at the system's library and
     * the system's with {@code system}. Needs jemalloc installed (scripts/test-all.sh installs libjemalloc2): without it
     * the test is skipped saying so, except under CI ({@code CI=true}), where it fails.
     */
    @Test
    void theJvmRunsWithThePreloadedAllocator() throws Exception {
        requireBuilt();
        Path jemalloc = systemJemalloc();
        String missing = "no libjemalloc.so.2 on this machine: scripts/test-all.sh installs libjemalloc2";
        if (!"true".equals(System.getenv("CI"))) {
            Assumptions.assumeTrue(jemalloc != null, missing);
        }
        assertTrue(jemalloc != null, missing);
        Path prompts = Files.writeString(tmp.resolve("p.jsonl"), "{\"prompt\": \"In the beginning\"}\n");
        for (String malloc : List.of(jemalloc.toString(), "system")) {
            Path json = tmp.resolve("bench.json");
            Result r = launch(LAUNCHER, Map.of("PPSD_MALLOC", malloc), "bench", "--model",
                    ROOT.resolve("models/ppsd-mini").toString(), "--prompts", prompts.toString(), "--max-new-tokens",
                    "2", "--modes", "ar", "--warmup", "0", "--json", json.toString());
            assertEquals(0, r.code(), r.err());
            String named = JsonParser.parseString(Files.readString(json)).getAsJsonObject()
                    .getAsJsonObject("machine").get("malloc").getAsString();
            assertEquals(malloc.equals("system") ? "system" : "jemalloc", named);
        }
    }

    /** A JAVA_HOME whose {@code bin/java} is the bash line {@code body}: the launcher's JVM as a script shows it. */
    private String fakeJavaHome(String body) throws IOException {
        Path java = Files.createDirectories(tmp.resolve("jdk/bin")).resolve("java");
        Files.writeString(java, "#!/usr/bin/env bash\n" + body + "\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        return tmp.resolve("jdk").toString();
    }

    /** The system's jemalloc where Debian, Ubuntu, Fedora or a source build put it; null when there is none. */
    private static Path systemJemalloc() {
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/lib")) {
            Path p = Path.of(dir, "libjemalloc.so.2");
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }
}
