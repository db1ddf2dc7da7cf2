package dev.ppsd.tools.cli;

import dev.ppsd.engine.tokenizer.ByteLevelBpe;
import dev.ppsd.tools.tokenizer.BpeTrainer;
import dev.ppsd.tools.train.Distiller;
import dev.ppsd.tools.train.Evaluator;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code ppsd train-tokenizer}, {@code ppsd distill-exit-head} and {@code ppsd eval}. */
final class ModelToolCommands {
    static final String USAGE = """
            usage: ppsd train-tokenizer --corpus FILE [--corpus FILE]... --vocab 4096 --out tokenizer.json
            usage: ppsd distill-exit-head --model DIR --corpus FILE... --exit-layer E [--out DIR (default MODEL/exit_head)]
                     [--steps 600 --batch 16 --seq-len 128 --lr 1e-3 --min-lr 1e-4 --warmup 30 --seed 1
                      --checkpoint-every 100 --time-limit-min 1e9]
            usage: ppsd eval --model DIR --heldout FILE... [--train FILE...] [--exit-head DIR]... [--seq-len 128]
                     [--windows 64] [--json OUT]
            """;

    private ModelToolCommands() {
    }

    static void trainTokenizer(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of());
        List<String> corpus = a.all("corpus");
        int vocab = a.integer("vocab", 4096);
        Path target = Path.of(a.required("out"));
        a.rejectUnknown();
        if (corpus.isEmpty()) {
            throw new IllegalArgumentException("--corpus: give at least one text file");
        }
        List<String> lines = new ArrayList<>();
        for (String f : corpus) {
            try {
                lines.addAll(Files.readAllLines(Path.of(f), StandardCharsets.UTF_8));
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException(f + ": corpus file not found");
            }
        }
        long t0 = System.nanoTime();
        ByteLevelBpe r = BpeTrainer.train(lines, vocab, List.of("<s>", "</s>", "<pad>"));
        r.writeTokenizerJson(target);
        out.printf(Locale.ROOT, "wrote %s: vocab %d (%d merges) from %d lines in %.1f s%n", target, r.vocabSize(),
                r.merges().size(), lines.size(), (System.nanoTime() - t0) / 1e9);
    }

    static void distill(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of());
        Path model = Path.of(a.required("model"));
        List<Path> corpus = a.all("corpus").stream().map(Path::of).toList();
        int e = a.integer("exit-layer", -1);
        if (e < 0) {
            throw new IllegalArgumentException("missing required option --exit-layer");
        }
        Path dir = Path.of(a.string("out", model.resolve("exit_head").toString()));
        var s = TrainCommand.settings(a, 600, 1e-3f, 1e-4f, 30, 0f);
        a.rejectUnknown();
        if (corpus.isEmpty()) {
            throw new IllegalArgumentException("--corpus: give at least one training text file");
        }
        Distiller.run(model, corpus, e, dir, s, out);
    }

    static void eval(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of());
        Path model = Path.of(a.required("model"));
        List<Path> held = a.all("heldout").stream().map(Path::of).toList();
        List<Path> train = a.all("train").stream().map(Path::of).toList();
        List<Path> heads = a.all("exit-head").stream().map(Path::of).toList();
        int seqLen = a.integer("seq-len", 128);
        int windows = a.integer("windows", 64);
        String json = a.string("json", null);
        a.rejectUnknown();
        if (held.isEmpty()) {
            throw new IllegalArgumentException("--heldout: give at least one held-out text file");
        }
        var report = Evaluator.run(model, held, train, heads, seqLen, windows, out);
        if (json != null) {
            Files.writeString(Path.of(json), new com.google.gson.GsonBuilder().setPrettyPrinting().create()
                    .toJson(report) + "\n");
        }
    }
}
