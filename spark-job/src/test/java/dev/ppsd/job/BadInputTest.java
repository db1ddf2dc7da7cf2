package dev.ppsd.job;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every way the job refuses to start: exit code 2 and one line {@code ppsd-job: error: ...} naming the problem,
 * found before any row is generated (the output folder is not even created). And the one way it stops part-way by
 * request: --fail-on-error on a bad row, exit code 1.
 */
class BadInputTest {
    @TempDir
    static Path tmp;
    static Path good;

    @BeforeAll
    static void inputs() throws IOException {
        JobTests.spark();
        good = JobTests.jsonl(tmp.resolve("good.jsonl"), JobTests.rows(6));
    }

    @AfterAll
    static void stopSpark() {
        JobTests.spark().stop();
    }

    /** Runs, expects exit code 2 and the exact error line, and checks no output folder was created. */
    private static void refused(String expected, String... args) {
        Path out = null;
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--output")) {
                out = Path.of(args[i + 1]);
            }
        }
        boolean existed = out != null && Files.exists(out);
        JobTests.Result r = JobTests.run(args);
        assertEquals(2, r.exitCode(), r.err());
        assertEquals("ppsd-job: error: " + expected, r.lastErrLine(), r.err());
        if (out != null && !existed) {
            assertFalse(Files.exists(out), "nothing written to " + out);
        }
    }

    private String out(String name) {
        return tmp.resolve(name).toString();
    }

    @Test
    void badArgumentsAreNamed() {
        refused("--output is required (the folder the results go to)", "--input", good.toString());
        refused("Unknown options: '--frobnicate', '1'", "--frobnicate", "1");
        refused("top_p must be in (0, 1] but was 2.0", "--input", good.toString(), "--output", out("o1"),
                "--top-p", "2");
        refused("max_new_tokens must be an integer but was 'many'", "--input", good.toString(), "--output",
                out("o1"), "--max-new-tokens", "many");
        refused("mode must be one of [ar, ar-pipe, eesd, ppsd, spd] but was fast", "--input", good.toString(),
                "--output", out("o1"), "--mode", "fast");
        refused("fail_on_error must be true or false but was 'skip'", "--input", good.toString(), "--output", out("o1"),
                "--fail-on-error=skip");
        refused("--output-format must be one of parquet, jsonl, csv, arrow but was xml", "--input", good.toString(),
                "--output", out("o1"), "--output-format", "xml");
        JobTests.Result unknownConf = JobTests.run("--input", good.toString(), "--output", out("o1"), "--conf",
                "spark.ppsd.maxNewTokens=3");
        assertEquals(2, unknownConf.exitCode());
        assertTrue(unknownConf.lastErrLine().startsWith("ppsd-job: error: unknown setting spark.ppsd.maxNewTokens (known:"
                + " spark.ppsd.model, spark.ppsd.mode, "), unknownConf.lastErrLine());
    }

    @Test
    void aMissingOrIncompleteModelIsRefusedBeforeSparkStarts() throws IOException {
        Path nope = tmp.resolve("no-such-model");
        refused("model folder " + nope + " does not exist", "--input", good.toString(), "--output", out("o2"),
                "--model", nope.toString());
        Path empty = Files.createDirectories(tmp.resolve("empty-model"));
        Files.writeString(empty.resolve("config.json"), "{}");
        refused("model folder " + empty + " is missing tokenizer.json, model.safetensors", "--input", good.toString(),
                "--output", out("o2"), "--model", empty.toString());
    }

    /** A copy of the job's tiny model to break. */
    private static Path modelCopy(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        try (var files = Files.list(JobTests.model())) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    @Test
    void aBrokenModelIsRefusedOnTheDriverBeforeSparkStarts() throws IOException {
        // truncated checkpoint (a copy cut short)
        Path cut = modelCopy("cut-model");
        Path st = cut.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(bytes, bytes.length - 1000));
        JobTests.Result r = JobTests.run("--input", good.toString(), "--output", out("m1"), "--model", cut.toString());
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: " + st + ": truncated: tensor "), r.lastErrLine());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertFalse(Files.exists(Path.of(out("m1"))), "output not created");

        // config with fewer layers than the checkpoint holds
        Path layers = modelCopy("layer-mismatch");
        Path cfg = layers.resolve("config.json");
        Files.writeString(cfg, Files.readString(cfg).replaceAll("\"num_hidden_layers\"\\s*:\\s*2", "\"num_hidden_layers\": 1"));
        r = JobTests.run("--input", good.toString(), "--output", out("m2"), "--model", layers.toString());
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: " + layers.resolve("model.safetensors")
                + ": 9 tensors not used by config.json"), r.lastErrLine());
        assertFalse(Files.exists(Path.of(out("m2"))));

        // an exit head made for another model (3 layers, other weights) in the model folder
        Path foreign = modelCopy("foreign-head");
        Path other = dev.ppsd.engine.model.TinyModels.write(tmp.resolve("other-model"),
                dev.ppsd.engine.model.TinyModels.config(3, 512), 5);
        try (dev.ppsd.engine.model.LlamaModel m = dev.ppsd.engine.model.LlamaModel.load(other)) {
            dev.ppsd.engine.model.ExitHead.initTrained(m, 1, m.manager()).save(foreign.resolve("exit_head"));
        }
        r = JobTests.run("--input", good.toString(), "--output", out("m3"), "--model", foreign.toString());
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: " + foreign.resolve("exit_head").resolve("config.json")
                + ": exit head was built for another model"), r.lastErrLine());

        // GPU stages where the embedded job runs them: this machine has none
        refused("stage 0 asks for gpu0 but this machine has 0 GPUs", "--input", good.toString(), "--output",
                out("m4"), "--model", JobTests.model().toString(), "--stages", "gpu0,gpu1");
    }

    @Test
    void aMissingOrUnreadableInputIsNamed() throws IOException {
        Path missing = tmp.resolve("missing.jsonl");
        refused("input " + missing + " does not exist", "--input", missing.toString(), "--output", out("o3"));

        Path garbage = Files.writeString(tmp.resolve("garbage.parquet"), "this is not parquet");
        JobTests.Result r = JobTests.run("--input", garbage.toString(), "--output", out("o3"));
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: cannot read input " + garbage + " as parquet: "),
                r.lastErrLine());

        // malformed JSON Lines: Spark names neither file nor line, the job does
        Path badJson = Files.writeString(tmp.resolve("bad.jsonl"), "{\"id\": 1, \"prompt\": \"a\"}\n{not json\n");
        refused("input " + badJson + ": line 2 is not valid JSON: Unexpected character ('n' (code 110)): was expecting"
                + " double-quote to start field name", "--input", badJson.toString(), "--output", out("o3"));
        // a null line passes Spark's schema inference and fails its first read of the rows
        Path nullLine = Files.writeString(tmp.resolve("null-line.jsonl"),
                "{\"id\": 1, \"prompt\": \"a\"}\r\n\r\nnull\r\n");
        refused("input " + nullLine + ": line 3 is not a JSON object or array (it holds null)", "--input",
                nullLine.toString(), "--output", out("o3"));

        Path txt = Files.writeString(tmp.resolve("prompts.txt"), "hello\n");
        refused("cannot tell the format of input " + txt + " from its name; pass --input-format"
                + " parquet|jsonl|csv|arrow", "--input", txt.toString(), "--output", out("o3"));
    }

    @Test
    void anInputWithoutRowsOrColumnsIsNamed() throws IOException {
        // empty files: Spark reads no columns from them (a CSV header alone is a table of 0 rows, generated as such)
        for (String name : List.of("empty.jsonl", "empty.csv")) {
            Path empty = Files.writeString(tmp.resolve(name), "");
            refused("input " + empty + " holds no rows (and so no columns); nothing to generate", "--input",
                    empty.toString(), "--output", out("o-" + name));
        }
        // a folder of empty files read as JSON: Spark cannot infer a schema
        Path folder = Files.createDirectories(tmp.resolve("empty-parts"));
        Files.writeString(folder.resolve("part-0.jsonl"), "");
        refused("input " + folder + " holds no rows (and so no columns); nothing to generate", "--input",
                folder.toString(), "--input-format", "jsonl", "--output", out("o-empty-parts"));
    }

    @Test
    void aCsvQuoteThatNeverClosesIsRefusedNamingTheFileAndLine() throws IOException {
        // Spark's reader would put everything from line 5 to the end into the prompt of id 3 (and drop ids 4 and 5)
        Path open = Files.writeString(tmp.resolve("open-quote.csv"), "id,prompt\n1,\"fine\"\n"
                + "2,\"a \"\"quoted\"\" word, over\ntwo lines\"\n3,\"never closed\n4,would be lost\n5,so would this\n");
        refused("input " + open + ": line 5: a quoted field opens here and never closes (the rest of the file would be"
                + " read as one value); close the quote or double a quote inside a quoted field (\"\")", "--input",
                open.toString(), "--output", out("o7"));
        // in a folder, the file at fault is named; CRLF lines are counted once
        Path folder = Files.createDirectories(tmp.resolve("csv-folder"));
        Files.writeString(folder.resolve("a.csv"), "id,prompt\n10,\"ok\"\n");
        Files.writeString(folder.resolve("b.csv"), "id,prompt\r\n20,ok\r\n21,\"open\r\n22,x\r\n");
        refused("input " + folder.resolve("b.csv") + ": line 3: a quoted field opens here and never closes (the rest of"
                + " the file would be read as one value); close the quote or double a quote inside a quoted field"
                + " (\"\")", "--input", folder.toString(), "--output", out("o7"));
        // gzip: the line is counted in the decompressed text
        Path gz = tmp.resolve("open-quote.csv.gz");
        try (var w = new java.io.OutputStreamWriter(new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz)),
                java.nio.charset.StandardCharsets.UTF_8)) {
            w.write("id,prompt\n1,a\n2,\"b\n");
        }
        JobTests.Result r = JobTests.run("--input", gz.toString(), "--output", out("o7"));
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: input " + gz + ": line 3: a quoted field opens here"),
                r.lastErrLine());
    }

    @Test
    void missingColumnsAreNamedWithTheColumnsThereAre() throws IOException {
        Path two = Files.writeString(tmp.resolve("two.jsonl"), "{\"id\": 1, \"prompt\": \"a\"}\n");
        refused("prompt column 'text' not found in input; columns: id, prompt (or a messages column 'messages')",
                "--input", two.toString(),
                "--output", out("o4"), "--prompt-col", "text");
        refused("id column 'key' not found in input; columns: id, prompt (the job needs a unique id per row, to seed"
                + " it and to resume: pass --id-col)", "--input", two.toString(), "--output", out("o4"),
                "--id-col", "key");
        refused("prompt column 'id' must be string but is bigint", "--input", two.toString(), "--output", out("o4"),
                "--prompt-col", "id");
        Path clash = Files.writeString(tmp.resolve("clash.jsonl"), "{\"id\": 1, \"prompt\": \"a\", \"error\": \"x\"}\n");
        refused("input column 'error' has the name of a result column; rename it in the input or pass"
                + " --error-col OTHER_NAME", "--input", clash.toString(), "--output", out("o4"));
        Path tags = Files.writeString(tmp.resolve("tags.jsonl"), "{\"id\": 1, \"prompt\": \"a\", \"tags\": [\"x\"]}\n");
        refused("csv output cannot hold input column 'tags' of type array<string>; use --output-format parquet,"
                + " jsonl or arrow", "--input", tags.toString(), "--output", out("o4"), "--output-format", "csv");
    }

    @Test
    void duplicateAndNullIdsAreRefused() throws IOException {
        Path dup = Files.writeString(tmp.resolve("dup.jsonl"), String.join("\n",
                "{\"id\": 1, \"prompt\": \"a\"}", "{\"id\": 3, \"prompt\": \"b\"}", "{\"id\": 3, \"prompt\": \"c\"}",
                "{\"id\": 2, \"prompt\": \"d\"}") + "\n");
        refused("duplicate ids in input column 'id': '3' (2 rows); every row needs a unique id", "--input",
                dup.toString(), "--output", out("o5"));
        Path nul = Files.writeString(tmp.resolve("nullid.jsonl"), "{\"id\": 1, \"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n");
        refused("input has 1 rows with a null id (column 'id'); every row needs a unique id", "--input",
                nul.toString(), "--output", out("o5"));
    }

    @Test
    void anOutputThatIsAFileOrAForeignFolderIsRefused() throws IOException {
        Path file = Files.writeString(tmp.resolve("out-file"), "x");
        refused("output " + file + " is a file; --output must be a folder", "--input", good.toString(), "--output",
                file.toString());
        Path foreign = Files.createDirectories(tmp.resolve("existing-foreign"));
        Files.writeString(foreign.resolve("notes.txt"), "mine");
        refused("output " + foreign + " is a folder that is not empty and holds no earlier ppsd-job output (no"
                + " _ppsd/job.json); pick a new or empty folder", "--input", good.toString(), "--output",
                foreign.toString(), "--overwrite");
        assertTrue(Files.exists(foreign.resolve("notes.txt")), "--overwrite never deletes a folder it did not write");
    }

    @Test
    void anOutputIsNotResumedWithOtherWeightsBehindTheSameModelPath() throws IOException {
        Path model = tmp.resolve("model-that-changes");
        dev.ppsd.engine.model.TinyModels.write(model, dev.ppsd.engine.model.TinyModels.config(2, 512), 31);
        String existing = out("model-changed");
        assertEquals(0, JobTests.run("--input", good.toString(), "--output", existing, "--model", model.toString())
                .exitCode());
        // the same folder, other weights (a retrained model copied over the old one)
        dev.ppsd.engine.model.TinyModels.write(model, dev.ppsd.engine.model.TinyModels.config(3, 512), 32);
        JobTests.Result r = JobTests.run("--input", good.toString(), "--output", existing, "--model", model.toString());
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.lastErrLine().startsWith("ppsd-job: error: output " + existing + " was generated with other"
                + " settings (model_fingerprint was \"sha256:"), r.lastErrLine());
    }

    @Test
    void anExistingOutputIsResumedOnlyWithTheSameSettings() {
        String existing = out("existing-output");
        assertEquals(0, JobTests.run("--input", good.toString(), "--output", existing).exitCode());
        refused("output " + existing + " already holds results of an earlier run; pass --resume to continue it or"
                + " --overwrite to replace it", "--input", good.toString(), "--output", existing, "--no-resume");
        refused("output " + existing + " was generated with other settings (max_new_tokens was \"4\", now \"5\"): run"
                + " with the same settings to resume it, or pass --overwrite or another --output", "--input",
                good.toString(), "--output", existing, "--max-new-tokens", "5");
        refused("output " + existing + " holds parquet part files, not csv: drop --output-format to continue it, or"
                + " pick another --output", "--input", good.toString(), "--output", existing, "--output-format", "csv");
        refused("output " + existing + " was generated with other settings (mode was \"ppsd\", now \"ar\"): run"
                + " with the same settings to resume it, or pass --overwrite or another --output", "--input",
                good.toString(), "--output", existing, "--mode", "ar");
        // --overwrite replaces it
        JobTests.Result r = JobTests.run("--input", good.toString(), "--output", existing, "--max-new-tokens", "5",
                "--overwrite");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("5 ok, 1 failed, 0 skipped"), r.out());
    }

    @Test
    void failOnErrorStopsAtTheFirstBadRowNamingIt() {
        JobTests.Result r = JobTests.run("--input", good.toString(), "--output", out("o6"), "--fail-on-error");
        assertEquals(1, r.exitCode(), r.err());
        assertEquals("ppsd-job: error: generation failed: row id=6: prompt is null (committed part sets are kept: a"
                + " re-run resumes)", r.lastErrLine());
        assertFalse(r.err().contains("\tat "), "a bad row is its one line, no stack trace: " + r.err());
    }

    @Test
    void helpListsEveryFlag() {
        JobTests.Result r = JobTests.run("--help");
        assertEquals(0, r.exitCode());
        for (String flag : List.of("--input", "--input-format", "--output", "--output-format", "--partitions",
                "--resume", "--no-resume", "--overwrite", "--partitions-per-commit", "--fail-on-error", "--model", "--mode",
                "--exit-layer", "--max-new-tokens", "--temperature", "--top-p", "--top-k", "--seed", "--stop",
                "--batch-size", "--id-col", "--prompt-col", "--master", "--conf", "--help")) {
            assertTrue(r.out().matches("(?s).*" + flag + "[ =\\[].*"), flag + " in\n" + r.out());
        }
    }
}
