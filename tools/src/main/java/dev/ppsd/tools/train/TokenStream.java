package dev.ppsd.tools.train;

import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A tokenized text corpus as one stream: each non-empty line becomes {@code <bos> line <eos>} (the form a
 * generation request sees: the tokenizer's BOS, then text, ending in EOS). Training windows are drawn at
 * positions derived from (seed, step), so a resumed run sees the same batches.
 */
final class TokenStream {
    private final int[] tokens;

    private TokenStream(int[] tokens) {
        this.tokens = tokens;
    }

    /** Tokenizes {@code files} with {@code modelDir/tokenizer.json}, ending each line with the config's EOS. */
    static TokenStream load(List<Path> files, Path modelDir, dev.ppsd.engine.model.LlamaConfig c) throws IOException {
        TokenStream s;
        try (TextTokenizer tok = TextTokenizer.load(modelDir)) {
            s = load(files, tok, c.eosTokenIds().isEmpty() ? 1 : c.eosTokenIds().get(0));
        }
        int max = java.util.Arrays.stream(s.tokens).max().orElse(0);
        if (max >= c.vocabSize()) {
            throw new IllegalArgumentException(modelDir.resolve("tokenizer.json") + " produces token id " + max
                    + " but the model's vocab_size is " + c.vocabSize() + " (use a larger --vocab)");
        }
        return s;
    }

    static TokenStream load(List<Path> files, TextTokenizer tokenizer, int eosId) throws IOException {
        int[] buf = new int[1 << 20];
        int n = 0;
        for (Path f : files) {
            List<String> lines;
            try {
                lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException(f + ": corpus file not found (run scripts/fetch-corpus.sh)");
            }
            int before = n;
            for (String line : lines) {
                if (line.isBlank()) {
                    continue;
                }
                int[] ids = tokenizer.encode(line);
                if (n + ids.length + 1 > buf.length) {
                    buf = Arrays.copyOf(buf, Math.max(buf.length * 2, n + ids.length + 1));
                }
                System.arraycopy(ids, 0, buf, n, ids.length);
                n += ids.length;
                buf[n++] = eosId;
            }
            if (n == before) {
                throw new IllegalArgumentException(f + ": corpus file is empty");
            }
        }
        return new TokenStream(Arrays.copyOf(buf, n));
    }

    int size() {
        return tokens.length;
    }

    /** {@code batch} windows of {@code len + 1} tokens (inputs and shifted targets) for {@code step}. */
    int[][] batch(long seed, int step, int batch, int len) {
        if (tokens.length <= len + 1) {
            throw new IllegalArgumentException("corpus has " + tokens.length + " tokens, fewer than one window of "
                    + (len + 1));
        }
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + step);
        int[][] out = new int[batch][];
        for (int b = 0; b < batch; b++) {
            int at = r.nextInt(tokens.length - len - 1);
            out[b] = Arrays.copyOfRange(tokens, at, at + len + 1);
        }
        return out;
    }

    /** Consecutive non-overlapping windows for evaluation (at most {@code max}). */
    int[][] windows(int len, int max) {
        int count = Math.min(max, (tokens.length - 1) / len);
        int[][] out = new int[count][];
        for (int i = 0; i < count; i++) {
            out[i] = Arrays.copyOfRange(tokens, i * len, i * len + len + 1);
        }
        return out;
    }
}
