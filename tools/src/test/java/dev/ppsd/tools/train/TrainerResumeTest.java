package dev.ppsd.tools.train;

import static dev.ppsd.tools.cli.CliHarness.csvRows;
import static dev.ppsd.tools.cli.CliHarness.csvSteps;
import static dev.ppsd.tools.cli.CliHarness.run;
import static dev.ppsd.tools.cli.CliHarness.tinyTrainArgs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.tools.cli.CliHarness;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ppsd train} resumes from its checkpoint exactly: batches are drawn from (seed, step), the AdamW moments
 * are checkpointed with the weights, and the LR schedule depends only on {@code --steps}, so a run that stops
 * and resumes ends with the same weights as a run that went straight through.
 *
 * <p>How a "killed" run is made deterministic: {@code --time-limit-min 0} stops (and checkpoints) after the first
 * step, with the same {@code --steps 20} and therefore the same LR schedule as the straight run; a 10-step run
 * would not do, since its cosine schedule differs from the first 10 steps of a 20-step run. A kill between the
 * loss-log append and the next checkpoint is reproduced by putting back a copy of that earlier checkpoint.
 */
class TrainerResumeTest {
    @TempDir
    static Path shared;

    static Path corpus;
    static Path tokenizer;

    @TempDir
    Path tmp;

    @BeforeAll
    static void tokenizer() throws IOException {
        corpus = CliHarness.writeCorpus(shared.resolve("train.txt"), 300, 11);
        tokenizer = shared.resolve("tokenizer.json");
        CliHarness.Run r = run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "300", "--out",
                tokenizer.toString()).ok();
        assertTrue(r.out().contains("wrote " + tokenizer + ": vocab 300"), r.out());
    }

    private static String[] train(Path out, int steps, String... extra) {
        List<String> a = tinyTrainArgs(corpus, tokenizer, out, steps);
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void stoppedAndResumedRunEndsWithTheStraightRunsWeights() throws IOException {
        Path dirA = tmp.resolve("a");
        Path dirB = tmp.resolve("b");

        // A: 20 steps straight through.
        CliHarness.Run a = run(train(dirA, 20, "--checkpoint-every", "5")).ok();
        assertTrue(a.out().contains("step 20/20"), a.out());
        assertFalse(a.out().contains("resumed"), a.out());
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "train-log.csv")) {
            assertTrue(Files.isRegularFile(dirA.resolve(f)), f);
        }
        assertEquals(2, LlamaConfig.load(dirA).numHiddenLayers());
        assertEquals(List.of(10, 20), csvSteps(dirA.resolve("train-log.csv")));

        // B1: the time limit (0 min) is reached after the first step: it checkpoints and writes the model.
        CliHarness.Run b1 = run(train(dirB, 20, "--checkpoint-every", "100", "--time-limit-min", "0")).ok();
        assertTrue(b1.out().contains("step 1/20"), b1.out());
        assertTrue(b1.out().contains("(step 1,"), b1.out());
        assertTrue(Files.isRegularFile(dirB.resolve("model.safetensors")));
        assertEquals(1, Checkpoint.step(dirB.resolve("checkpoint")));
        assertEquals(List.of(1), csvSteps(dirB.resolve("train-log.csv")));
        Path step1 = tmp.resolve("checkpoint-step1");
        copyTree(dirB.resolve("checkpoint"), step1);

        // B2: the same command without the limit resumes at step 1 and ends where A ended.
        CliHarness.Run b2 = run(train(dirB, 20, "--checkpoint-every", "100")).ok();
        assertTrue(b2.out().contains("resumed from " + dirB.resolve("checkpoint") + " at step 1"), b2.out());
        assertFalse(b2.out().contains("step 1/20"), "step 1 must not be trained twice:\n" + b2.out());
        assertEquals(List.of(1, 10, 20), csvSteps(dirB.resolve("train-log.csv")));
        assertSameWeights(dirA.resolve("model.safetensors"), dirB.resolve("model.safetensors"));
        assertSameLosses(dirA, dirB);

        // B3: as if B2 had been killed after logging step 20 but before its final checkpoint (the only one with
        // --checkpoint-every 100): the step-1 checkpoint is back. Resuming redoes steps 2..20; the loss log must
        // still hold every step once.
        Checkpoint.deleteTree(dirB.resolve("checkpoint"));
        Files.delete(dirB.resolve("model.safetensors"));
        copyTree(step1, dirB.resolve("checkpoint"));
        CliHarness.Run b3 = run(train(dirB, 20, "--checkpoint-every", "100")).ok();
        assertTrue(b3.out().contains("at step 1"), b3.out());
        assertEquals(List.of(1, 10, 20), csvSteps(dirB.resolve("train-log.csv")),
                "rows after the resumed step must appear once");
        assertSameWeights(dirA.resolve("model.safetensors"), dirB.resolve("model.safetensors"));
        assertSameLosses(dirA, dirB);

        // Re-running a finished run trains nothing and rewrites the same model.
        CliHarness.Run again = run(train(dirA, 20, "--checkpoint-every", "5")).ok();
        assertTrue(again.out().contains("at step 20"), again.out());
        assertEquals(List.of(10, 20), csvSteps(dirA.resolve("train-log.csv")));
        assertSameWeights(dirA.resolve("model.safetensors"), dirB.resolve("model.safetensors"));
    }

    @Test
    void resumingWithAnotherShapeNamesTheCheckpointAndTheField() throws IOException {
        Path dir = tmp.resolve("shape");
        run(train(dir, 20, "--time-limit-min", "0")).ok();
        Path state = dir.resolve("checkpoint").resolve("state.json");
        List<String> args = new ArrayList<>(List.of(train(dir, 20)));
        args.set(args.indexOf("--hidden") + 1, "64");
        run(args.toArray(String[]::new)).fails(state.toString(), "hidden_size=32", "hidden_size=64");
        // the checkpoint is untouched and still resumes with the original shape
        assertEquals(1, Checkpoint.step(dir.resolve("checkpoint")));
        assertTrue(run(train(dir, 2)).ok().out().contains("at step 1"));
    }

    @Test
    void earlyExitLossLogsTheExitCrossEntropy() throws IOException {
        Path dir = tmp.resolve("exit");
        run(train(dir, 10, "--early-exit-layers", "1", "--early-exit-weight", "0.5")).ok();
        List<String[]> rows = csvRows(dir.resolve("train-log.csv"));
        assertEquals(1, rows.size());
        float ce = Float.parseFloat(rows.get(0)[1]);
        float exitCe = Float.parseFloat(rows.get(0)[2]);
        assertTrue(ce > 0 && Float.isFinite(ce), "loss " + ce);
        assertTrue(exitCe > 0 && Float.isFinite(exitCe), "early-exit loss " + exitCe);
        run(train(tmp.resolve("exit2"), 10, "--early-exit-layers", "2")).fails("--early-exit-layers: 2",
                "[1, 2)");
    }

    private static void assertSameLosses(Path a, Path b) throws IOException {
        List<String[]> ra = csvRows(a.resolve("train-log.csv"));
        List<String[]> rb = csvRows(b.resolve("train-log.csv"));
        for (String[] x : ra) {
            String[] y = rb.stream().filter(r -> r[0].equals(x[0])).findFirst().orElseThrow();
            // step, loss, loss2, lr, grad_norm are deterministic; throughput and time are not
            assertArrayEquals(List.of(x).subList(0, 5).toArray(), List.of(y).subList(0, 5).toArray(),
                    "log row of step " + x[0]);
        }
    }

    static void assertSameWeights(Path a, Path b) {
        try (Safetensors.Reader x = Safetensors.open(a); Safetensors.Reader y = Safetensors.open(b)) {
            Map<String, Safetensors.TensorInfo> tx = x.tensors();
            assertEquals(new TreeSet<>(tx.keySet()), new TreeSet<>(y.tensors().keySet()));
            for (String name : tx.keySet()) {
                float[] u = x.readFloats(name);
                float[] v = y.readFloats(name);
                assertEquals(u.length, v.length, name);
                for (int i = 0; i < u.length; i++) {
                    if (Math.abs(u[i] - v[i]) > 1e-6f) {
                        throw new AssertionError(name + "[" + i + "]: " + u[i] + " vs " + v[i]);
                    }
                }
            }
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }
}
