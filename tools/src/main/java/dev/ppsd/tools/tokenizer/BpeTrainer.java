package dev.ppsd.tools.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.regex.Matcher;
import dev.ppsd.engine.tokenizer.ByteLevel;
import dev.ppsd.engine.tokenizer.ByteLevelBpe;

/**
 * Trains a GPT-2 style byte-level BPE tokenizer and writes it as a Hugging Face {@code tokenizer.json}
 * that {@link HuggingFaceTokenizer#newInstance(Path)} loads.
 *
 * <p>Vocabulary layout: the special tokens first (by convention {@code <s>, </s>, <pad>} with ids 0, 1,
 * 2 = bos, eos, pad), then the 256 byte tokens in byte order, then one token per merge, in merge order.
 * The first special token is the BOS token that the post-processor prepends when special tokens are
 * added.
 *
 * <p>Training: every line is split with the GPT-2 regex (the same one the {@code ByteLevel}
 * pre-tokenizer applies), identical pre-tokens are counted once with their frequency, and merges are
 * found greedily (most frequent adjacent pair first, ties broken by the lower pair of ids) with
 * incremental pair-count updates: each merge only revisits the words that contain the merged pair.
 * Merging continues while any adjacent pair is left, so the vocabulary reaches {@code vocabSize}
 * unless the corpus runs out of pairs; {@link ByteLevelBpe#vocabSize()} reports the size actually reached.
 * Line breaks are not part of the training data (each line is trained on its own).
 */
public final class BpeTrainer {

    private BpeTrainer() {
    }

    /**
     * Options for {@link HuggingFaceTokenizer#newInstance(Path, Map)} that load a trained tokenizer
     * without truncation. Note: DJL truncates to 512 tokens ({@code LONGEST_FIRST}) unless told
     * {@code "truncation" -> "false"}, even though {@code tokenizer.json} says {@code truncation: null}.
     *
     * @param addSpecialTokens whether {@code encode} prepends the BOS token
     */
    public static Map<String, String> djlOptions(boolean addSpecialTokens) {
        return Map.of("addSpecialTokens", Boolean.toString(addSpecialTokens), "truncation", "false");
    }

    /**
     * Trains a byte-level BPE tokenizer.
     *
     * @param lines training text, one logical line per element; empty lines are ignored
     * @param vocabSize target vocabulary size including special and byte tokens; at least
     *     {@code 256 + specialTokens.size() + 1}
     * @param specialTokens special tokens given ids {@code 0..k-1}; the first one is the BOS token
     * @return the trained tokenizer
     * @throws IllegalArgumentException if {@code vocabSize} is too small, the special tokens are
     *     empty strings or duplicates, or the corpus has no non-empty line
     */
    public static ByteLevelBpe train(Iterable<String> lines, int vocabSize, List<String> specialTokens) {
        Objects.requireNonNull(lines, "lines");
        Objects.requireNonNull(specialTokens, "specialTokens");
        int k = specialTokens.size();
        int min = 256 + k + 1;
        if (vocabSize < min) {
            throw new IllegalArgumentException("vocabSize must be at least " + min + " (256 byte tokens + " + k
                    + " special tokens + 1) but was " + vocabSize);
        }
        Set<String> specials = new HashSet<>();
        for (String s : specialTokens) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("specialTokens must not contain null or empty tokens: " + specialTokens);
            }
            if (!specials.add(s)) {
                throw new IllegalArgumentException("specialTokens contains duplicate token '" + s + "'");
            }
        }
        for (int b = 0; b < 256; b++) {
            String t = String.valueOf(ByteLevel.byteToChar(b));
            if (specials.contains(t)) {
                throw new IllegalArgumentException("special token '" + t + "' collides with a byte token");
            }
        }

        // 1. Pre-tokenized word counts.
        Map<String, long[]> wordCounts = new HashMap<>();
        long nonEmpty = 0;
        for (String line : lines) {
            if (line == null || line.isEmpty()) {
                continue;
            }
            nonEmpty++;
            Matcher m = ByteLevel.splitter(line);
            while (m.find()) {
                wordCounts.computeIfAbsent(m.group(), w -> new long[1])[0]++;
            }
        }
        if (nonEmpty == 0) {
            throw new IllegalArgumentException("corpus is empty: no non-empty lines");
        }

        Merger merger = new Merger(wordCounts, specials);
        wordCounts = null; // let it go before the merge loop
        merger.run(vocabSize - k);
        return new ByteLevelBpe(List.copyOf(specialTokens), merger.tokens, merger.mergeStrings());
    }

    /** Per-pair state: current total count over all words and the words that (may) contain it. */
    private static final class PairStats {
        long count;
        int[] where = new int[4];
        int whereSize;

        void addWord(int w) {
            if (whereSize > 0 && where[whereSize - 1] == w) {
                return;
            }
            if (whereSize == where.length) {
                where = Arrays.copyOf(where, whereSize * 2);
            }
            where[whereSize++] = w;
        }
    }

    private record HeapEntry(long key, long count) {
    }

    /** The merge loop over integer symbol sequences (internal ids: 0..255 bytes, then merges). */
    private static final class Merger {
        final int[][] words;
        final long[] freqs;
        final Map<Long, PairStats> pairs = new HashMap<>();
        final List<String> tokens = new ArrayList<>();
        final Map<String, Integer> tokenIndex = new HashMap<>();
        final List<long[]> merges = new ArrayList<>();
        final Set<String> specials;
        final Set<Long> banned = new HashSet<>();
        final PriorityQueue<HeapEntry> heap = new PriorityQueue<>((x, y) -> {
            int c = Long.compare(y.count, x.count);
            return c != 0 ? c : Long.compare(x.key, y.key);
        });

        Merger(Map<String, long[]> wordCounts, Set<String> specials) {
            this.specials = specials;
            for (int b = 0; b < 256; b++) {
                String t = String.valueOf(ByteLevel.byteToChar(b));
                tokenIndex.put(t, tokens.size());
                tokens.add(t);
            }
            words = new int[wordCounts.size()][];
            freqs = new long[wordCounts.size()];
            List<String> sorted = new ArrayList<>(wordCounts.keySet());
            Collections.sort(sorted); // deterministic word order (and so deterministic 'where' lists)
            int w = 0;
            for (String word : sorted) {
                byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
                int[] syms = new int[bytes.length];
                for (int i = 0; i < bytes.length; i++) {
                    syms[i] = bytes[i] & 0xFF;
                }
                words[w] = syms;
                freqs[w] = wordCounts.get(word)[0];
                for (int i = 0; i + 1 < syms.length; i++) {
                    PairStats s = pairs.computeIfAbsent(key(syms[i], syms[i + 1]), x -> new PairStats());
                    s.count += freqs[w];
                    s.addWord(w);
                }
                w++;
            }
            for (Map.Entry<Long, PairStats> e : pairs.entrySet()) {
                heap.add(new HeapEntry(e.getKey(), e.getValue().count));
            }
        }

        static long key(int a, int b) {
            return ((long) a << 32) | (b & 0xFFFFFFFFL);
        }

        void run(int targetTokens) {
            int[] stamp = new int[words.length];
            Arrays.fill(stamp, -1);
            int mergeNo = 0;
            while (tokens.size() < targetTokens && !heap.isEmpty()) {
                HeapEntry top = heap.poll();
                PairStats stats = pairs.get(top.key);
                if (stats == null || stats.count <= 0 || banned.contains(top.key)) {
                    continue;
                }
                if (stats.count != top.count) { // stale entry: re-queue with the current count
                    heap.add(new HeapEntry(top.key, stats.count));
                    continue;
                }
                int a = (int) (top.key >>> 32);
                int b = (int) top.key;
                String merged = tokens.get(a) + tokens.get(b);
                if (specials.contains(merged)) {
                    banned.add(top.key);
                    continue;
                }
                Integer existing = tokenIndex.get(merged);
                int newId;
                if (existing != null) {
                    newId = existing;
                } else {
                    newId = tokens.size();
                    tokens.add(merged);
                    tokenIndex.put(merged, newId);
                }
                merges.add(new long[] {a, b});

                Set<Long> touched = new HashSet<>();
                int[] where = stats.where;
                int whereSize = stats.whereSize;
                for (int wi = 0; wi < whereSize; wi++) {
                    int w = where[wi];
                    if (stamp[w] == mergeNo) {
                        continue;
                    }
                    stamp[w] = mergeNo;
                    applyMerge(w, a, b, newId, touched);
                }
                pairs.remove(top.key);
                for (Long t : touched) {
                    PairStats s = pairs.get(t);
                    if (s != null && s.count > 0) {
                        heap.add(new HeapEntry(t, s.count));
                    }
                }
                mergeNo++;
            }
        }

        private void applyMerge(int w, int a, int b, int newId, Set<Long> touched) {
            int[] old = words[w];
            int n = old.length;
            boolean found = false;
            for (int i = 0; i + 1 < n; i++) {
                if (old[i] == a && old[i + 1] == b) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                return;
            }
            long f = freqs[w];
            for (int i = 0; i + 1 < n; i++) {
                PairStats s = pairs.get(key(old[i], old[i + 1]));
                if (s != null) {
                    s.count -= f;
                }
            }
            int[] buf = new int[n];
            int m = 0;
            for (int i = 0; i < n; ) {
                if (i + 1 < n && old[i] == a && old[i + 1] == b) {
                    buf[m++] = newId;
                    i += 2;
                } else {
                    buf[m++] = old[i++];
                }
            }
            int[] nw = Arrays.copyOf(buf, m);
            words[w] = nw;
            for (int i = 0; i + 1 < m; i++) {
                long key = key(nw[i], nw[i + 1]);
                PairStats s = pairs.get(key);
                if (s == null) {
                    s = new PairStats();
                    pairs.put(key, s);
                }
                s.count += f;
                if (nw[i] == newId || nw[i + 1] == newId) {
                    s.addWord(w);
                    touched.add(key);
                }
            }
        }

        List<String> mergeStrings() {
            List<String> out = new ArrayList<>(merges.size());
            for (long[] p : merges) {
                out.add(tokens.get((int) p[0]) + " " + tokens.get((int) p[1]));
            }
            return out;
        }
    }

    /**
     * Command line: {@code BpeTrainer VOCAB_SIZE OUT_TOKENIZER_JSON TRAIN.txt... [--eval EVAL.txt...]}.
     * Trains on the lines of all {@code TRAIN} files with the specials {@code <s>, </s>, <pad>}, writes
     * the tokenizer, prints the training time and then, for every train and eval file, the average
     * number of tokens per non-empty line (without BOS) as encoded by the written tokenizer via DJL.
     */
    public static void main(String[] args) throws IOException {
        int evalAt = Arrays.asList(args).indexOf("--eval");
        List<String> trainFiles = Arrays.asList(args).subList(Math.min(2, args.length),
                evalAt < 0 ? args.length : evalAt);
        if (args.length < 3 || trainFiles.isEmpty()) {
            System.err.println("usage: BpeTrainer VOCAB_SIZE OUT_TOKENIZER_JSON TRAIN.txt... [--eval EVAL.txt...]");
            System.exit(2);
        }
        List<String> evalFiles = evalAt < 0 ? List.of() : Arrays.asList(args).subList(evalAt + 1, args.length);
        int vocabSize = Integer.parseInt(args[0]);
        Path out = Path.of(args[1]);
        List<String> lines = new ArrayList<>();
        for (String f : trainFiles) {
            lines.addAll(Files.readAllLines(Path.of(f), StandardCharsets.UTF_8));
        }
        long t0 = System.nanoTime();
        ByteLevelBpe r = train(lines, vocabSize, List.of("<s>", "</s>", "<pad>"));
        double secs = (System.nanoTime() - t0) / 1e9;
        r.writeTokenizerJson(out);
        System.out.printf(Locale.ROOT, "trained vocab %d (%d merges) on %d lines in %.2f s -> %s%n",
                r.vocabSize(), r.merges().size(), lines.size(), secs, out);
        List<String> report = new ArrayList<>(trainFiles);
        report.addAll(evalFiles);
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(out, djlOptions(false))) {
            for (String f : report) {
                long n = 0;
                long total = 0;
                long bytes = 0;
                for (String line : Files.readAllLines(Path.of(f), StandardCharsets.UTF_8)) {
                    if (line.isEmpty()) {
                        continue;
                    }
                    total += tok.encode(line).getIds().length;
                    bytes += line.getBytes(StandardCharsets.UTF_8).length;
                    n++;
                }
                System.out.printf(Locale.ROOT, "%s %s: %d lines, %.2f tokens/line, %.2f bytes/token%n",
                        trainFiles.contains(f) ? "train" : "eval", f, n, n == 0 ? 0.0 : (double) total / n,
                        total == 0 ? 0.0 : (double) bytes / total);
            }
        }
    }
}
