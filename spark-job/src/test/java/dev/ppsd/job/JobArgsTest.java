package dev.ppsd.job;

import java.util.List;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line alone: flags onto udf settings, precedence, and messages that name the flag. */
class JobArgsTest {
    private static String error(String... args) {
        return assertThrows(JobException.class, () -> JobArgs.parse(args)).getMessage();
    }

    @Test
    void flagsMapOntoTheUdfSettingsAndWinOverConf() {
        JobArgs a = JobArgs.parse(new String[] {"--input", "in.jsonl", "--output=out", "--max-new-tokens", "16",
                "--conf", "spark.ppsd.max_new_tokens=32", "--conf", "spark.ppsd.top_k=5", "--temperature", "0.7",
                "--stop", "\n\n", "--stop", "END", "--fail-on-error", "--mode", "ppsd", "--exit-layer", "1",
                "--conf", "spark.executor.memory=4g", "--conf", "spark.ppsd.job.test.rowDelayMs=5",
                "--id-col", "key", "--prompt-col", "text", "--partitions", "8", "--no-resume"});
        Map<String, Object> s = a.settings();
        assertEquals("16", s.get("max_new_tokens"), "the flag wins over --conf");
        assertEquals("5", s.get("top_k"));
        assertEquals("0.7", s.get("temperature"));
        assertEquals(List.of("\n\n", "END"), s.get("stop"));
        assertEquals("true", s.get("fail_on_error"));
        assertEquals("ppsd", s.get("mode"));
        assertEquals("1", s.get("exit_layer"));
        assertEquals("key", s.get("id_col"));
        assertEquals("text", s.get("prompt_col"));
        assertEquals(Map.of("spark.executor.memory", "4g"), a.sparkConf);
        assertEquals(Map.of("spark.ppsd.job.test.rowDelayMs", "5"), a.jobConf);
        assertEquals("out", a.output);
        assertEquals(8, a.partitions);
        assertEquals(false, a.resume);
        assertNull(a.outputFormat);
    }

    @Test
    void badValuesAreNamedAsTheUserWroteThem() {
        assertEquals("top_k must be >= 0 (0 = off) but was -1", error("--top-k", "-1"));
        assertEquals("top_k must be an integer but was 'x'", error("--conf", "spark.ppsd.top_k=x"));
        assertEquals("--partitions must be a positive integer but was 0", error("--partitions", "0"));
        assertEquals("--input-format must be one of parquet, jsonl, csv, arrow, table but was xls",
                error("--input-format", "xls"));
        assertEquals("--conf takes KEY=VALUE but was spark.executor.memory", error("--conf", "spark.executor.memory"));
        assertEquals("Missing required parameter for option '--seed' (S)", error("--input", "x", "--seed"));
        assertEquals("--input is required (a file, folder or table of prompts)", error("--output", "o"));
        assertEquals("--overwrite and --resume contradict each other: pick one",
                error("--input", "i", "--output", "o", "--overwrite", "--resume"));
    }

    @Test
    void helpShowsEachGenerationFlagWithItsDefault() {
        String help = JobArgs.usage();
        assertTrue(help.contains("--max-new-tokens=N"), help);
        assertTrue(help.contains("token budget (clamped to what the context leaves) (default 64)"), help);
        assertTrue(help.contains("--model=DIR") && help.contains(ModelLocation.BUNDLED + " of this"), help);
        assertTrue(help.contains("--prompt-col=COL") && help.contains("--fail-on-error"), help);
        assertTrue(JobArgs.parse(new String[] {"-h"}).help);
    }
}
