package dev.ppsd.job;

import dev.ppsd.udf.PpsdConf;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
                "--conf", "spark.ppsd.maxNewTokens=32", "--conf", "spark.ppsd.topK=5", "--temperature", "0.7",
                "--stop", "\n\n", "--stop", "END", "--on-error", "fail", "--mode", "ppsd", "--exit-layer", "1",
                "--conf", "spark.executor.memory=4g", "--conf", "spark.ppsd.job.test.rowDelayMs=5",
                "--id-column", "key", "--prompt-column", "text", "--partitions", "8", "--no-resume"});
        Map<String, Object> s = a.settings();
        assertEquals(16, s.get(PpsdConf.MAX_NEW_TOKENS), "the flag wins over --conf");
        assertEquals(5, s.get(PpsdConf.TOP_K));
        assertEquals(0.7, s.get(PpsdConf.TEMPERATURE));
        assertArrayEquals(new String[] {"\n\n", "END"}, (String[]) s.get(PpsdConf.STOP));
        assertEquals(true, s.get(PpsdConf.FAIL_ON_ERROR));
        assertEquals("ppsd", s.get(PpsdConf.MODE));
        assertEquals(1, s.get(PpsdConf.EXIT_LAYER));
        assertEquals("key", s.get(PpsdConf.ID_COL));
        assertEquals("text", s.get(PpsdConf.PROMPT_COL));
        assertEquals(Map.of("spark.executor.memory", "4g"), a.sparkConf);
        assertEquals(Map.of("spark.ppsd.job.test.rowDelayMs", "5"), a.jobConf);
        assertEquals("out", a.output);
        assertEquals(8, a.partitions);
        assertEquals(false, a.resume);
        assertNull(a.outputFormat);
    }

    @Test
    void badValuesAreNamedAsTheUserWroteThem() {
        assertEquals("--top-k must be >= 0 (0 = off) but was -1", error("--top-k", "-1"));
        assertEquals("spark.ppsd.topK must be an integer but was 'x'", error("--conf", "spark.ppsd.topK=x"));
        assertEquals("--partitions must be a positive integer but was 0", error("--partitions", "0"));
        assertEquals("--input-format must be one of parquet, jsonl, csv, arrow, table but was xls",
                error("--input-format", "xls"));
        assertEquals("--conf takes KEY=VALUE but was spark.executor.memory", error("--conf", "spark.executor.memory"));
        assertEquals("--seed needs a value", error("--input", "x", "--seed"));
        assertEquals("--input is required (a file, folder or table of prompts)", error("--output", "o"));
        assertEquals("--overwrite and --resume contradict each other: pick one",
                error("--input", "i", "--output", "o", "--overwrite", "--resume"));
    }

    @Test
    void helpShowsEachGenerationFlagWithItsDefault() {
        String help = JobArgs.usage();
        assertTrue(help.contains("--max-new-tokens N"), help);
        assertTrue(help.contains("[" + PpsdConf.defaultValue(PpsdConf.MAX_NEW_TOKENS) + "] (maxNewTokens)"), help);
        assertTrue(help.contains("--model DIR") && help.contains(ModelLocation.BUNDLED + " of this"), help);
        assertTrue(JobArgs.parse(new String[] {"-h"}).help);
    }
}
