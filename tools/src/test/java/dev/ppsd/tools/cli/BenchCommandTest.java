package dev.ppsd.tools.cli;

import static dev.ppsd.tools.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.model.TinyModels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ppsd bench} on a tiny random model: it measures the modes on weights of the {@code --dtype} asked for, and
 * with {@code --repeat} prints every round.
 */
class BenchCommandTest {
    @TempDir
    static Path dir;

    static Path model;
    static Path prompts;

    @BeforeAll
    static void tinyModel() throws IOException {
        model = TinyModels.write(dir.resolve("tiny"), TinyModels.config(2, 512), 42);
        prompts = Files.write(dir.resolve("prompts.jsonl"), List.of("{\"prompt\": \"In the beginning\"}",
                "{\"prompt\": \"And God said\"}"));
    }

    private static String bench(String dtype) {
        return run("bench", "--model", model.toString(), "--prompts", prompts.toString(), "--limit", "2",
                "--max-new-tokens", "3", "--warmup", "1", "--modes", "ar,ppsd", "--dtype", dtype).ok().out();
    }

    /** The bench once loaded float32 whatever --dtype said, so a float16 or bfloat16 figure was float32's. */
    @Test
    void measuresTheWeightsInTheDtypeAskedFor() {
        for (String dtype : List.of("float16", "bfloat16", "float32")) {
            String out = bench(dtype);
            assertTrue(out.contains("weights: " + dtype + " on cpu"), dtype + ":\n" + out);
            assertTrue(out.lines().anyMatch(l -> l.startsWith("ppsd ") && l.endsWith(" true")),
                    "ppsd matches ar in " + dtype + ":\n" + out);
        }
        assertTrue(bench("auto").contains("weights: float32 on cpu"), "auto is float32 on a CPU");
    }

    /** A ratio of two modes' medians hides how far apart their rounds were: with --repeat every round is printed. */
    @Test
    void printsEveryRoundsFigureWithRepeat() {
        String out = run("bench", "--model", model.toString(), "--prompts", prompts.toString(), "--limit", "2",
                "--max-new-tokens", "3", "--warmup", "1", "--modes", "ar,ppsd", "--repeat", "3").ok().out();
        String line = out.lines().filter(l -> l.startsWith("tokens/s by round:")).findFirst().orElse("");
        assertTrue(line.matches("tokens/s by round: ar [0-9.]+, [0-9.]+, [0-9.]+; ppsd [0-9.]+, [0-9.]+, [0-9.]+;"),
                "one figure per round and mode:\n" + out);
    }
}
