package dev.ppsd.udf;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the README example (on the shared session) and checks the shape of what it prints. */
class ReadmeExampleTest {
    @Test
    void theReadmeExampleRunsAndPrintsOneRowPerPrompt() throws Exception {
        TestSpark.spark();
        PrintStream stdout = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            ReadmeExample.main(new String[] {TestSpark.model().toString()});
        } finally {
            System.setOut(stdout);
            TestSpark.spark().conf().unset("spark.ppsd.model");
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        stdout.print(out);
        assertTrue(out.contains("|id |generated_text"), out);
        assertTrue(out.contains("|3  |NULL"), out);
        assertTrue(out.contains("|prompt is null|"), out);
        assertTrue(out.matches("(?s).*metrics: rows=3 errors=1 new_tokens=16 drafts=\\d+/\\d+.*"), out);
    }
}
