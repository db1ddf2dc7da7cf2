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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bin/ppsd-job} starts its JVM with the C allocator {@code PPSD_MALLOC} names, as {@code bin/ppsd} does (both
 * source bin/lib/malloc.sh; tools' BinPpsdIT covers every case and a real JVM): jemalloc by default where the system
 * has it, a library's path when given, one line and exit 2 for a missing one. Its JAVA_HOME is a java that prints its
 * LD_PRELOAD. A failsafe test: the launcher wants what {@code mvn package} built.
 */
class PpsdJobLauncherIT {
    @TempDir
    Path tmp;

    private record Result(int code, String out, String err) {
    }

    private Result launch(Map<String, String> env) throws Exception {
        Path repo = Path.of("").toAbsolutePath();
        while (!Files.isRegularFile(repo.resolve("bin/ppsd-job"))) {
            repo = repo.getParent();
            assertTrue(repo != null, "repository root (with bin/ppsd-job) not found");
        }
        Path java = Files.createDirectories(tmp.resolve("jdk/bin")).resolve("java");
        Files.writeString(java, "#!/usr/bin/env bash\necho \"LD_PRELOAD=[${LD_PRELOAD:-}]\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        ProcessBuilder pb = new ProcessBuilder("bash", repo.resolve("bin/ppsd-job").toString(), "--help");
        pb.environment().remove("LD_PRELOAD");
        pb.environment().put("JAVA_HOME", tmp.resolve("jdk").toString());
        pb.environment().putAll(env);
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "bin/ppsd-job did not finish in 60 s");
        return new Result(p.exitValue(), Files.readString(out).strip(), Files.readString(err).strip());
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
}
