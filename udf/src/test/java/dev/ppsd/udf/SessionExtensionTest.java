package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code spark.sql.extensions=dev.ppsd.udf.PpsdExtensions} alone gives a new session {@code ppsd_generate}: a fresh
 * JVM (as {@code spark-sql} / {@code pyspark} would start one) runs the README's {@code CREATE TABLE ... AS SELECT}
 * without calling any registration, with a per-row error and the struct's fields.
 */
class SessionExtensionTest {
    @TempDir
    Path tmp;

    @Test
    void aSessionStartedWithTheExtensionConfHasTheSqlFunction() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // the JVM flags of this test JVM (offline DJL, Spark's --add-opens, heap)
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> !a.startsWith("-agentlib") && !a.startsWith("-javaagent")).toList());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SessionExtensionMain.class.getName(),
                TestSpark.model().toString(), tmp.resolve("warehouse").toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(false)
                .redirectError(tmp.resolve("stderr.txt").toFile());
        pb.environment().put("OPT_OUT_TRACKING", "true");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the child JVM did not finish");
        assertEquals(0, p.exitValue(), out + "\n" + java.nio.file.Files.readString(tmp.resolve("stderr.txt")));

        List<String[]> rows = out.lines().filter(l -> l.startsWith("row\t")).map(l -> l.split("\t", -1)).toList();
        assertEquals(3, rows.size(), out);
        String[] prompts = {"In the beginning", "And God said"};
        for (int i = 0; i < 2; i++) {
            GenerationResult want = TestSpark.direct(List.of(new GenerationRequest(String.valueOf(i + 1), prompts[i],
                    SamplingParams.greedy(4)))).get(0);
            assertEquals(want.text(), rows.get(i)[2], "row " + (i + 1));
            assertEquals("4", rows.get(i)[4]);
            assertEquals("null", rows.get(i)[5]);
        }
        assertEquals("prompt is null", rows.get(2)[5]);
        assertTrue(out.contains("fields\tstruct<generated_text:string,finish_reason:string,stop_reason:string,"
                + "prompt_tokens:int,new_tokens:int,acceptance:double,tokens_per_s:double,error:string,"
                + "incomplete:boolean,token_logprobs:"), out);
        assertTrue(out.contains("describe\tUsage: ppsd_generate(prompt [, options])"), out);
    }
}
