package dev.ppsd.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loading streams tensors from the safetensors file to the device: a 178 MB model loads in a JVM whose heap is
 * capped at 48 MB (and direct buffers at 32 MB), in float32 and bfloat16, and the peak heap in use while loading
 * stays under a quarter of the model's size ({@link LoadHeapProbe} in a child JVM).
 */
class StreamingLoadTest {
    @TempDir
    Path tmp;

    private String probe(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx48m", "-XX:MaxDirectMemorySize=32m", "-Dai.djl.offline=true",
                "-Dai.djl.pytorch.num_threads=1", "-cp", System.getProperty("java.class.path")));
        for (String p : List.of("DJL_CACHE_DIR", "ENGINE_CACHE_DIR")) {
            if (System.getProperty(p) != null) {
                cmd.add(1, "-D" + p + "=" + System.getProperty(p));
            }
        }
        cmd.add(LoadHeapProbe.class.getName());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "probe finished");
        assertEquals(0, p.exitValue(), "the load fits in 48 MB of heap:\n" + out);
        String line = out.lines().filter(l -> l.startsWith("LOAD")).findFirst().orElseThrow();
        System.out.println("[StreamingLoadTest] " + line);
        return line;
    }

    @Test
    void a178MbModelLoadsWithA48MbHeap() throws IOException, InterruptedException {
        // 4 layers of hidden 512 (intermediate 1408) and an untied 32000-token vocabulary: 44.6M floats, 178 MB
        Path dir = FamilyModels.write(tmp.resolve("model"), LoadHeapProbe.config(4, 512, 32000), 7);
        String f32 = probe(dir.toString(), "float32");
        double mb = Files.size(dir.resolve("model.safetensors")) / 1e6;
        assertTrue(mb > 170, "model size " + mb);
        assertTrue(LoadHeapProbe.peakMb(f32) < mb / 4, "peak heap while loading float32: " + f32);
        String bf16 = probe(dir.toString(), "bfloat16");
        assertTrue(LoadHeapProbe.peakMb(bf16) < mb / 4, "peak heap while loading bfloat16: " + bf16);
    }
}
