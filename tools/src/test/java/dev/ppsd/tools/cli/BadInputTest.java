package dev.ppsd.tools.cli;

import static dev.ppsd.tools.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.model.TinyModels;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad arguments and files given to {@code train}, {@code train-tokenizer}, {@code distill-exit-head}, {@code eval}
 * and {@code generate} end with exit code 2 and one stderr line {@code ppsd: error: ...} that names the option or
 * file at fault, before any training starts.
 */
class BadInputTest {
    @TempDir
    static Path dir;

    static Path corpus;
    static Path empty;
    static Path missing;
    static Path tokenizer;
    static Path model;

    @BeforeAll
    static void setUp() throws IOException {
        corpus = CliHarness.writeCorpus(dir.resolve("train.txt"), 200, 3);
        empty = dir.resolve("empty.txt");
        Files.writeString(empty, "\n  \n\n");
        missing = dir.resolve("no-such-corpus.txt");
        tokenizer = dir.resolve("tokenizer.json");
        run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "300", "--out", tokenizer.toString()).ok();
        model = TinyModels.write(dir.resolve("model"), TinyModels.config(2, 512), 5);
    }

    private static String[] train(String... overrides) {
        List<String> a = CliHarness.tinyTrainArgs(corpus, tokenizer, dir.resolve("out-" + System.nanoTime()), 3);
        for (int i = 0; i < overrides.length; i += 2) {
            int at = a.indexOf(overrides[i]);
            if (at < 0) {
                a.add(overrides[i]);
                a.add(overrides[i + 1]);
            } else if (overrides[i + 1] == null) {
                a.remove(at + 1);
                a.remove(at);
            } else {
                a.set(at + 1, overrides[i + 1]);
            }
        }
        return a.toArray(String[]::new);
    }

    private static String[] distill(String... extra) {
        List<String> a = new ArrayList<>(List.of("distill-exit-head", "--model", model.toString(), "--corpus",
                corpus.toString(), "--exit-layer", "1", "--out", dir.resolve("head-" + System.nanoTime()).toString(),
                "--steps", "2", "--batch", "2", "--seq-len", "8"));
        for (int i = 0; i < extra.length; i += 2) {
            int at = a.indexOf(extra[i]);
            if (at < 0) {
                a.add(extra[i]);
                a.add(extra[i + 1]);
            } else if (extra[i + 1] == null) {
                a.remove(at + 1);
                a.remove(at);
            } else {
                a.set(at + 1, extra[i + 1]);
            }
        }
        return a.toArray(String[]::new);
    }

    @Test
    void trainRejectsBadFilesWithTheirNames() {
        run(train("--corpus", missing.toString())).fails(missing.toString(), "corpus file not found");
        run(train("--corpus", empty.toString())).fails(empty.toString(), "corpus file is empty");
        run(train("--corpus", null)).fails("--corpus");
        Path noTok = dir.resolve("no-tokenizer.json");
        run(train("--tokenizer", noTok.toString())).fails(noTok.toString(), "tokenizer file not found");
        run(train("--tokenizer", null)).fails("Missing required option: '--tokenizer=tokenizer.json'");
        run(train("--out", null)).fails("Missing required option: '--out=");
    }

    @Test
    void trainRejectsBadOptions() {
        run(train("--steps", "x")).fails("Invalid value for option '--steps': 'x' is not an int");
        run(train("--lr", "fast")).fails("Invalid value for option '--lr': 'fast' is not a float");
        run(train("--time-limit-min", "soon")).fails("Invalid value for option '--time-limit-min': 'soon' is not a double");
        run(train("--foo", "1")).fails("Unknown options: '--foo', '1'");
        run(train("--steps", "0")).fails("--steps must be >= 1 but was 0");
        run(train("--seq-len", "128")).fails("--seq-len 128 exceeds --max-pos 64");
        run(train("--early-exit-layers", "0")).fails("--early-exit-layers: 0 must be in [1, 2)");
        String[] noValue = train();
        String[] cut = java.util.Arrays.copyOf(noValue, noValue.length + 1);
        cut[noValue.length] = "--steps";
        run(cut).fails("Missing required parameter for option '--steps' (N)");
        List<String> stray = new ArrayList<>(List.of(train()));
        stray.add("stray");
        run(stray.toArray(String[]::new)).fails("Unmatched argument at index", "'stray'");
    }

    @Test
    void trainRejectsAVocabSmallerThanTheTokenizers() {
        // the tokenizer has 300 ids; a 200-row embedding cannot hold them
        String msg = run(train("--vocab", "200")).fails("tokenizer.json produces token id", "vocab_size is 200", "--vocab");
        assertTrue(msg.contains("vocab"), msg);
    }

    @Test
    void trainTokenizerRejectsBadInput() {
        Path out = dir.resolve("tok-out.json");
        run("train-tokenizer", "--corpus", missing.toString(), "--vocab", "300", "--out", out.toString())
                .fails(missing.toString(), "corpus file not found");
        Path zero = dir.resolve("zero-bytes.txt");
        try {
            Files.writeString(zero, "");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        run("train-tokenizer", "--corpus", zero.toString(), "--vocab", "300", "--out", out.toString())
                .fails("corpus is empty");
        run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "100", "--out", out.toString())
                .fails("vocabSize must be at least 260", "but was 100");
        run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "many", "--out", out.toString())
                .fails("Invalid value for option '--vocab': 'many' is not an int");
        run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "300").fails("Missing required option: '--out=");
        run("train-tokenizer", "--vocab", "300", "--out", out.toString()).fails("--corpus");
        run("train-tokenizer", "--corpus", corpus.toString(), "--out", out.toString(), "--foo", "1")
                .fails("Unknown options: '--foo', '1'");
        assertFalse(Files.exists(out), "nothing is written on error");
    }

    @Test
    void distillRejectsBadInput() {
        run(distill("--exit-layer", "0")).fails("exit_layer must be in [1, 2) but was 0");
        run(distill("--exit-layer", "2")).fails("exit_layer must be in [1, 2) but was 2");
        run(distill("--exit-layer", null)).fails("Missing required option: '--exit-layer=E'");
        run(distill("--exit-layer", "one")).fails("Invalid value for option '--exit-layer': 'one' is not an int");
        run(distill("--model", null)).fails("Missing required option: '--model=DIR'");
        run(distill("--corpus", missing.toString())).fails(missing.toString(), "corpus file not found");
        run(distill("--corpus", empty.toString())).fails(empty.toString(), "corpus file is empty");
        run(distill("--corpus", null)).fails("--corpus");
        run(distill("--steps", "x")).fails("Invalid value for option '--steps': 'x' is not an int");
        run(distill("--foo", "1")).fails("Unknown options: '--foo', '1'");
        Path noModel = dir.resolve("no-model");
        run(distill("--model", noModel.toString())).fails(noModel.resolve("config.json").toString(), "missing file");
    }

    @Test
    void evalRejectsBadInput() {
        run("eval", "--heldout", corpus.toString()).fails("Missing required option: '--model=DIR'");
        run("eval", "--model", model.toString()).fails("--heldout");
        run("eval", "--model", model.toString(), "--heldout", missing.toString())
                .fails(missing.toString(), "corpus file not found");
        run("eval", "--model", model.toString(), "--heldout", empty.toString())
                .fails(empty.toString(), "corpus file is empty");
        run("eval", "--model", model.toString(), "--heldout", corpus.toString(), "--seq-len", "x")
                .fails("Invalid value for option '--seq-len': 'x' is not an int");
        run("eval", "--model", model.toString(), "--heldout", corpus.toString(), "--foo", "1")
                .fails("Unknown options: '--foo', '1'");
        Path noHead = dir.resolve("no-head");
        run("eval", "--model", model.toString(), "--heldout", corpus.toString(), "--exit-head", noHead.toString())
                .fails(noHead.resolve("config.json").toString(), "missing file");
    }

    @Test
    void generateRejectsBadInput() {
        run("generate", "--prompt", "In the").fails("model is not set (--model DIR");
        run("generate", "--model", model.toString()).fails("give exactly one of --prompt TEXT or --prompts FILE");
        run("generate", "--model", model.toString(), "--prompt", "a", "--prompts", corpus.toString())
                .fails("give exactly one of");
        run("generate", "--model", model.toString(), "--prompt", "a", "--max-new-tokens", "x")
                .fails("max_new_tokens must be an integer but was 'x'");
        run("generate", "--model", model.toString(), "--prompt", "a", "--mode", "fast").fails("mode must be one of");
        run("generate", "--model", model.toString(), "--prompt", "a", "--foo", "1").fails("Unknown options: '--foo', '1'");
        run("generate", "--model", model.toString(), "--prompts", missing.toString())
                .fails(missing.toString(), "prompts file not found");
        Path noModel = dir.resolve("no-model");
        run("generate", "--model", noModel.toString(), "--prompt", "a")
                .fails(noModel.resolve("config.json").toString(), "missing file");
        run("generate", "--model", model.toString(), "--prompt", "a", "--mode", "ppsd", "--exit-layer", "2")
                .fails("[1, 2)", "2");
    }

    @Test
    void unknownCommandIsOneLine() {
        String msg = run("frobnicate").fails("unknown command 'frobnicate'");
        assertTrue(msg.contains("generate"), msg);
        CliHarness.Run none = run();
        assertEquals(2, none.code());
        assertTrue(none.out().startsWith("usage: ppsd <command>"), none.out());
        assertEquals(0, run("--help").ok().out().indexOf("usage: ppsd"));
    }

    @Test
    void aCommandAloneOrWithHelpPrintsItsUsage() {
        CliHarness.Run alone = run("generate");
        assertEquals(2, alone.code());
        assertTrue(alone.out().startsWith("usage: ppsd generate "), alone.out());
        assertTrue(alone.out().contains("--max-new-tokens=N"), "the settings table's options: " + alone.out());
        assertEquals("", alone.err());
        assertTrue(run("train", "--help").ok().out().startsWith("usage: ppsd train "));
        assertTrue(run("eval", "--model", "m", "--help").ok().out().contains("usage: ppsd eval"));
        assertEquals(2, run("distill-exit-head").code());
    }

    @Test
    void settingsHelpWithAPercentSignIsPrintedAsWritten() {
        // picocli formats option descriptions and warns on System.err (not the command's stream) when it cannot
        PrintStream systemErr = System.err;
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        String usage;
        try {
            System.setErr(new PrintStream(warnings, true, StandardCharsets.UTF_8));
            usage = run("bench", "--help").ok().out();
        } finally {
            System.setErr(systemErr);
        }
        assertEquals("", warnings.toString(StandardCharsets.UTF_8));
        assertTrue(usage.replaceAll("\\s+", " ").contains("batch's caches (80%) and the prefix cache (20%)"), usage);
    }
}
