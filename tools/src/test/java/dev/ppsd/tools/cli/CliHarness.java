package dev.ppsd.tools.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Test support for the {@code ppsd} command line: runs {@link Main#run} in-process with captured stdout and
 * stderr, checks the one-line error contract, and writes small deterministic corpora (English-like prose plus
 * code-like lines) and a tiny trained tokenizer / model for the training tests.
 */
public final class CliHarness {
    private CliHarness() {
    }

    /** Exit code and captured output of one {@code ppsd} invocation. */
    public record Run(int code, String out, String err) {
        /** Asserts exit code 0 (showing stderr otherwise) and returns this. */
        public Run ok() {
            assertEquals(0, code, () -> "exit code; stderr:\n" + err + "\nstdout:\n" + out);
            return this;
        }

        /**
         * Asserts the error contract (exit code 2, exactly one stderr line starting with {@code ppsd: error: },
         * nothing on stdout besides what came before the error) and that the message contains every fragment.
         * Returns the message after the prefix.
         */
        public String fails(String... fragments) {
            assertEquals(2, code, () -> "exit code; stderr:\n" + err + "\nstdout:\n" + out);
            String[] lines = err.split("\\R");
            assertEquals(1, lines.length, () -> "stderr must be one line but was:\n" + err);
            assertTrue(lines[0].startsWith("ppsd: error: "), () -> "stderr: " + err);
            String msg = lines[0].substring("ppsd: error: ".length());
            for (String f : fragments) {
                assertTrue(msg.contains(f), () -> "message should contain '" + f + "' but was: " + msg);
            }
            return msg;
        }
    }

    /** Runs {@code ppsd args...} in this JVM. */
    public static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Main.run(args, o, e);
        }
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static final String[] WORDS = ("the and of to in that he shall unto for his a lord they be is him not "
            + "them it with all thou was which my me said but ye their have will thee from as are when this out "
            + "were upon man by you israel king up there hath then people came had house into her come one").split(" ");
    private static final String[] IDENTS = {"sum", "count", "value", "index", "buffer", "result", "items", "name"};
    private static final String[] TYPES = {"int", "long", "String", "double", "List<String>", "boolean"};

    /** {@code n} lines, roughly 2/3 prose and 1/3 Java-like code, fully determined by {@code seed}. */
    public static List<String> corpusLines(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<String> lines = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            if (i % 3 == 2) {
                String id = IDENTS[r.nextInt(IDENTS.length)];
                String other = IDENTS[r.nextInt(IDENTS.length)];
                lines.add(switch (r.nextInt(4)) {
                    case 0 -> "    " + TYPES[r.nextInt(TYPES.length)] + " " + id + " = " + other + " + " + r.nextInt(100)
                            + ";";
                    case 1 -> "    for (int i = 0; i < " + id + ".size(); i++) { " + other + " += " + id + ".get(i); }";
                    case 2 -> "    if (" + id + " == null) { return " + other + "; }";
                    default -> "    public " + TYPES[r.nextInt(TYPES.length)] + " get" + Character.toUpperCase(id.charAt(0))
                            + id.substring(1) + "() { return " + id + "; }";
                });
            } else {
                int words = 6 + r.nextInt(9);
                StringBuilder s = new StringBuilder();
                for (int w = 0; w < words; w++) {
                    String word = WORDS[r.nextInt(WORDS.length)];
                    s.append(w == 0 ? Character.toUpperCase(word.charAt(0)) + word.substring(1) : " " + word);
                }
                lines.add(s.append(r.nextInt(4) == 0 ? ", and it was so." : ".").toString());
            }
        }
        return lines;
    }

    /** Writes {@link #corpusLines} to {@code file} and returns it. */
    public static Path writeCorpus(Path file, int n, long seed) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, corpusLines(n, seed), StandardCharsets.UTF_8);
        return file;
    }

    /** Options of the tiny training runs: 2 layers, hidden 32, vocab 300, 16-token windows. */
    public static List<String> tinyTrainArgs(Path corpus, Path tokenizer, Path out, int steps) {
        return new ArrayList<>(List.of("train", "--corpus", corpus.toString(), "--tokenizer", tokenizer.toString(),
                "--out", out.toString(), "--layers", "2", "--hidden", "32", "--heads", "4", "--kv-heads", "2",
                "--intermediate", "64", "--vocab", "300", "--max-pos", "64", "--seq-len", "16", "--batch", "4",
                "--steps", String.valueOf(steps), "--warmup", "2"));
    }

    /** Rows of a {@code train-log.csv} (header dropped), split on commas. */
    public static List<String[]> csvRows(Path csv) throws IOException {
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals("step,loss,loss2,lr,grad_norm,tokens_per_s,elapsed_s", lines.get(0), "CSV header");
        List<String[]> rows = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) {
            rows.add(l.split(","));
        }
        return rows;
    }

    /** The step column of a {@code train-log.csv}. */
    public static List<Integer> csvSteps(Path csv) throws IOException {
        return csvRows(csv).stream().map(r -> Integer.parseInt(r[0])).toList();
    }
}
