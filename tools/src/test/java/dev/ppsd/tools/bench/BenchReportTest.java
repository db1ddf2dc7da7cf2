package dev.ppsd.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.tools.cli.CliHarness;
import dev.ppsd.engine.model.TinyModels;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ppsd bench --report DIR} on a tiny random model: report.md names every plot, each plot is a real PNG,
 * bench.json holds the sweep, the per-batch comparisons and the traced timeline, and {@code --json} keeps its
 * shape.
 */
class BenchReportTest {
    /** One mode of each kind keeps the run short: every engine open costs more than the 8 tokens decoded. */
    private static final List<String> MODES = List.of("ar", "ar-pipe", "eesd:3", "ppsd");
    private static final List<String> FIELDS = List.of("tokens_per_s", "acceptance", "speedup", "bound",
            "bound_cost", "efficiency", "outputs_match_ar", "ttft_ms", "tpot_ms");
    /** The fields every mode has; the others are null (left out of the JSON) where they do not apply. */
    private static final List<String> ALWAYS = List.of("tokens_per_s", "speedup", "outputs_match_ar", "ttft_ms",
            "tpot_ms");

    @TempDir
    Path dir;

    @Test
    void writesReportWithPlotsAndJson() throws IOException {
        Path model = TinyModels.write(dir.resolve("tiny"), TinyModels.config(4, 512), 7);
        Path prompts = Files.write(dir.resolve("prompts.jsonl"), List.of("{\"prompt\": \"In the beginning\"}",
                "{\"prompt\": \"public static int\"}", "{\"prompt\": \"The quick brown fox\"}"));
        Path report = dir.resolve("report");
        Path json = dir.resolve("out.json");
        CliHarness.Run run = CliHarness.run("bench", "--model", model.toString(), "--prompts", prompts.toString(),
                "--modes", String.join(",", MODES), "--limit", "2", "--max-new-tokens", "8", "--warmup", "1",
                "--alpha-sweep", "0,1",
                "--batch-sizes", "1,2", "--json", json.toString(), "--report", report.toString()).ok();
        assertTrue(run.out().contains("wrote " + report.resolve("report.md")), run.out());

        String md = Files.readString(report.resolve("report.md"), StandardCharsets.UTF_8);
        for (String png : List.of(BenchReport.SPEEDUP_PNG, BenchReport.THROUGHPUT_PNG, BenchReport.TIMELINE_PNG)) {
            assertTrue(md.contains("](" + png + ")"), () -> "report.md should embed " + png + ":\n" + md);
            BufferedImage img = ImageIO.read(report.resolve(png).toFile());
            assertNotNull(img, png + " is not a readable image");
            assertTrue(img.getWidth() > 300 && img.getHeight() > 200, png + " is " + img.getWidth() + "x"
                    + img.getHeight());
            assertTrue(distinctColours(img) > 5, png + " looks blank");
        }
        assertTrue(md.contains("bin/ppsd bench --model " + model), "the exact command line");
        assertTrue(md.contains(Runtime.getRuntime().availableProcessors() + " cores"), "the machine");
        assertTrue(md.contains(System.getProperty("java.version")), "the java version");
        for (String f : FIELDS) {
            assertTrue(md.contains(f), "table column " + f);
        }
        assertTrue(md.contains("## How to read"), "how-to-read paragraph");

        JsonObject bench = JsonParser.parseString(Files.readString(report.resolve("bench.json"))).getAsJsonObject();
        assertEquals(Set.of("alpha_sweep", "batch_sizes", "command", "machine", "timeline"), bench.keySet());
        // this JVM's allocator, as its own environment says (surefire preloads nothing unless the caller did)
        String preload = String.valueOf(System.getenv("LD_PRELOAD"));
        String malloc = preload.contains("jemalloc") ? "jemalloc" : preload.contains("tcmalloc") ? "tcmalloc" : "system";
        assertEquals(malloc, bench.getAsJsonObject("machine").get("malloc").getAsString());
        assertTrue(md.contains("malloc " + malloc), "the machine's allocator");
        assertEquals(Set.of("0", "1"), bench.getAsJsonObject("alpha_sweep").keySet());
        assertEquals(Set.of("1", "2"), bench.getAsJsonObject("batch_sizes").keySet());
        for (JsonObject comparison : List.of(bench.getAsJsonObject("alpha_sweep").getAsJsonObject("0"),
                bench.getAsJsonObject("batch_sizes").getAsJsonObject("2"))) {
            assertEquals(Set.copyOf(MODES), comparison.keySet());
            for (String m : MODES) {
                JsonObject row = comparison.getAsJsonObject(m);
                assertTrue(row.keySet().containsAll(m.equals("ppsd") ? FIELDS : ALWAYS), m + ": " + row);
                assertTrue(row.get("outputs_match_ar").getAsBoolean(), m + " must match ar: " + row);
            }
        }
        // scale 0 makes the late layers the identity on the residual stream: the shared head's drafts all pass
        JsonObject exact = bench.getAsJsonObject("alpha_sweep").getAsJsonObject("0");
        assertEquals(1.0, exact.getAsJsonObject("ppsd").get("acceptance").getAsDouble(), 1e-9);
        assertEquals(1.0, exact.getAsJsonObject("eesd:3").get("acceptance").getAsDouble(), 1e-9);
        JsonObject timeline = bench.getAsJsonObject("timeline");
        assertFalse(timeline.getAsJsonArray("cycles").isEmpty(), "traced cycles");
        assertEquals(2, timeline.getAsJsonArray("stage_layers").size());

        // --json: the same comparisons and machine, without the report's command and timeline
        JsonObject plain = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals(Set.of("alpha_sweep", "batch_sizes", "machine"), plain.keySet());
        assertEquals(malloc, plain.getAsJsonObject("machine").get("malloc").getAsString());
        assertEquals(bench.get("alpha_sweep"), plain.get("alpha_sweep"));
    }

    @Test
    void rejectsBadBatchSizes() {
        CliHarness.run("bench", "--model", dir.toString(), "--prompts", "p.jsonl", "--batch-sizes", "1,0")
                .fails("--batch-sizes", "1,0");
    }

    /** Distinct RGB values in a coarse grid of pixels: a blank or single-colour image has 1 or 2. */
    private static int distinctColours(BufferedImage img) {
        Set<Integer> seen = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 4) {
            for (int x = 0; x < img.getWidth(); x += 4) {
                seen.add(img.getRGB(x, y) & 0xFFFFFF);
            }
        }
        return seen.size();
    }
}
