package dev.ppsd.tools.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * Deterministic train / held-out split of a line corpus and extraction of held-out prompts.
 *
 * <p>A line is held out iff a 64-bit FNV-1a hash of its UTF-8 bytes (with a SplitMix64 finaliser)
 * falls below the held-out fraction; the split therefore depends only on the line's text (identical
 * lines always land on the same side, so no held-out line is also a training line) and not on order,
 * file or JVM. Prompts are drawn only from held-out lines.
 *
 * <p>Prompt rules: for prose domains (anything but {@code "code"}) a prompt is the first 6 to 12
 * words of a held-out line with at least 8 words (always leaving at least 2 words to continue); for
 * the {@code "code"} domain it is the head of a held-out code line (indentation stripped) of 12 to 100
 * characters that is neither a comment line nor an {@code import}/{@code package} statement, cut at a space
 * 40-70% of the way in (the model ends a whole line with EOS, so the rest is what it completes).
 */
public final class CorpusSplit {

    /** Fraction of distinct line texts held out from training (2%). */
    public static final double HELD_OUT_FRACTION = 0.02;
    /** Number of prompts written per domain by {@link #main}. */
    public static final int PROMPTS_PER_DOMAIN = 220;
    /** Seed for prompt selection used by {@link #main}. */
    public static final long PROMPT_SEED = 20240611L;
    /** Corpus domains {@link #main} processes: {@code <corpusDir>/<domain>.txt}. */
    public static final List<String> DOMAINS = List.of("bible", "code");
    /** Number of prompts per domain in {@code sample.jsonl}. */
    public static final int SAMPLE_PER_DOMAIN = 6;

    private static final int HASH_BUCKETS = 1_000_000;
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    private CorpusSplit() {
    }

    /** The two sides of a split, each in corpus order. */
    public record Split(List<String> train, List<String> heldOut) {
    }

    /** One prompt as written to the JSONL files. */
    public record Prompt(String id, String prompt, String domain) {
    }

    /** Stable 64-bit hash of a line: FNV-1a over its UTF-8 bytes, then the SplitMix64 finaliser. */
    static long lineHash(String line) {
        long h = 0xcbf29ce484222325L;
        for (byte b : line.getBytes(StandardCharsets.UTF_8)) {
            h ^= (b & 0xFF);
            h *= 0x100000001b3L;
        }
        h ^= h >>> 30;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 27;
        h *= 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return h;
    }

    /** Whether {@code line} belongs to the held-out side for the given fraction (0..1). */
    public static boolean isHeldOut(String line, double heldOutFraction) {
        long bucket = Long.remainderUnsigned(lineHash(line), HASH_BUCKETS);
        return bucket < Math.round(heldOutFraction * HASH_BUCKETS);
    }

    /** Splits {@code lines} into train and held-out sides by {@link #isHeldOut}. */
    public static Split split(List<String> lines, double heldOutFraction) {
        if (!(heldOutFraction >= 0.0 && heldOutFraction <= 1.0)) {
            throw new IllegalArgumentException("heldOutFraction must be in [0, 1] but was " + heldOutFraction);
        }
        List<String> train = new ArrayList<>();
        List<String> heldOut = new ArrayList<>();
        for (String line : lines) {
            (isHeldOut(line, heldOutFraction) ? heldOut : train).add(line);
        }
        return new Split(List.copyOf(train), List.copyOf(heldOut));
    }

    /**
     * Reads a corpus file (UTF-8, one line per line), dropping blank lines.
     *
     * @throws IllegalArgumentException naming the file if it is missing, not UTF-8 or has no non-blank line
     */
    public static List<String> readCorpus(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("corpus file " + file + " does not exist (run scripts/fetch-corpus.sh)");
        }
        List<String> lines = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    lines.add(line);
                }
            }
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("corpus file " + file + " is not valid UTF-8", e);
        }
        if (lines.isEmpty()) {
            throw new IllegalArgumentException("corpus file " + file + " is empty: no non-blank lines");
        }
        return lines;
    }

    /** Whether {@code domain} uses the code prompt rules. */
    static boolean isCodeDomain(String domain) {
        return domain.equals("code");
    }

    /** Returns the prompt text for a held-out line, or {@code null} if the line is not eligible. */
    static String promptFor(String line, boolean code, Random rnd) {
        if (code) {
            String s = line.strip();
            if (s.length() < 12 || s.length() > 100) {
                return null;
            }
            if (s.startsWith("*") || s.startsWith("/*") || s.startsWith("//")
                    || s.startsWith("import ") || s.startsWith("package ")) {
                return null;
            }
            // the model was trained on <bos> line <eos>: a whole line would be answered by EOS, so the prompt
            // is the line's head, cut at a space 40-70% of the way in, leaving the rest to be completed
            int target = (int) (s.length() * (0.4 + 0.3 * rnd.nextDouble()));
            int cut = s.lastIndexOf(' ', target);
            if (cut < 12) {
                return null;
            }
            return s.substring(0, cut);
        }
        String[] words = line.strip().split("\\s+");
        if (words.length < 8) {
            return null;
        }
        int k = Math.min(6 + rnd.nextInt(7), words.length - 2);
        return String.join(" ", Arrays.asList(words).subList(0, k));
    }

    /**
     * Selects {@code count} distinct prompts from held-out lines: the eligible lines are shuffled with
     * {@code new Random(seed)} (Fisher-Yates), then prompts are taken in that order, skipping repeats.
     *
     * @throws IllegalArgumentException if fewer than {@code count} distinct prompts can be made
     */
    public static List<Prompt> selectPrompts(List<String> heldOutLines, String domain, int count, long seed) {
        Objects.requireNonNull(heldOutLines, "heldOutLines");
        Objects.requireNonNull(domain, "domain");
        if (domain.isBlank()) {
            throw new IllegalArgumentException("domain must not be blank");
        }
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0 but was " + count);
        }
        boolean code = isCodeDomain(domain);
        List<String> pool = new ArrayList<>(heldOutLines);
        Random rnd = new Random(seed);
        for (int i = pool.size() - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            String t = pool.get(i);
            pool.set(i, pool.get(j));
            pool.set(j, t);
        }
        List<Prompt> prompts = new ArrayList<>(count);
        Set<String> seen = new HashSet<>();
        for (String line : pool) {
            if (prompts.size() == count) {
                break;
            }
            String p = promptFor(line, code, rnd);
            if (p != null && seen.add(p)) {
                prompts.add(new Prompt(String.format(Locale.ROOT, "%s-%04d", domain, prompts.size() + 1), p, domain));
            }
        }
        if (prompts.size() < count) {
            throw new IllegalArgumentException("only " + prompts.size() + " distinct eligible prompts in "
                    + heldOutLines.size() + " held-out lines of domain '" + domain + "', need count=" + count);
        }
        return prompts;
    }

    /**
     * Writes {@code count} prompts selected by {@link #selectPrompts} as JSONL lines
     * {@code {"id": "<domain>-0001", "prompt": "...", "domain": "<domain>"}} to {@code out}.
     */
    public static void writePrompts(List<String> heldOutLines, String domain, int count, long seed, Path out)
            throws IOException {
        writeJsonl(selectPrompts(heldOutLines, domain, count, seed), out);
    }

    /** Writes prompts as JSONL (fields in the order id, prompt, domain), creating parent directories. */
    public static void writeJsonl(List<Prompt> prompts, Path out) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            for (Prompt p : prompts) {
                Map<String, String> o = new LinkedHashMap<>();
                o.put("id", p.id());
                o.put("prompt", p.prompt());
                o.put("domain", p.domain());
                w.write(GSON.toJson(o));
                w.write('\n');
            }
        }
    }

    private static void writeLines(List<String> lines, Path out) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            for (String l : lines) {
                w.write(l);
                w.write('\n');
            }
        }
    }

    /**
     * {@code CorpusSplit [CORPUS_DIR [PROMPTS_DIR [COUNT]]]} (defaults {@code target/corpus},
     * {@code data/prompts}, 220): for each domain in {@link #DOMAINS} reads
     * {@code CORPUS_DIR/<domain>.txt}, writes {@code CORPUS_DIR/train-<domain>.txt} and
     * {@code CORPUS_DIR/heldout-<domain>.txt}, and {@code COUNT} prompts to
     * {@code PROMPTS_DIR/<domain>.jsonl}; then {@code PROMPTS_DIR/sample.jsonl} with the first
     * {@value #SAMPLE_PER_DOMAIN} short (at most 60 characters) prompts of each domain.
     */
    public static void main(String[] args) throws IOException {
        Path corpusDir = Path.of(args.length > 0 ? args[0] : "target/corpus");
        Path promptsDir = Path.of(args.length > 1 ? args[1] : "data/prompts");
        int count = args.length > 2 ? Integer.parseInt(args[2]) : PROMPTS_PER_DOMAIN;
        List<Prompt> sample = new ArrayList<>();
        for (String domain : DOMAINS) {
            List<String> lines = readCorpus(corpusDir.resolve(domain + ".txt"));
            Split s = split(lines, HELD_OUT_FRACTION);
            writeLines(s.train(), corpusDir.resolve("train-" + domain + ".txt"));
            writeLines(s.heldOut(), corpusDir.resolve("heldout-" + domain + ".txt"));
            List<Prompt> prompts = selectPrompts(s.heldOut(), domain, count, PROMPT_SEED);
            writeJsonl(prompts, promptsDir.resolve(domain + ".jsonl"));
            prompts.stream().filter(p -> p.prompt().length() <= 60).limit(SAMPLE_PER_DOMAIN).forEach(sample::add);
            System.out.printf(Locale.ROOT, "%s: %d lines -> %d train, %d held out; %d prompts -> %s%n", domain,
                    lines.size(), s.train().size(), s.heldOut().size(), prompts.size(),
                    promptsDir.resolve(domain + ".jsonl"));
        }
        writeJsonl(sample, promptsDir.resolve("sample.jsonl"));
        System.out.printf(Locale.ROOT, "sample: %d prompts -> %s%n", sample.size(), promptsDir.resolve("sample.jsonl"));
    }
}
