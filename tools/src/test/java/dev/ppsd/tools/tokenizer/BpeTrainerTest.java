package dev.ppsd.tools.tokenizer;

import dev.ppsd.engine.tokenizer.ByteLevel;
import dev.ppsd.engine.tokenizer.ByteLevelBpe;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Trains small tokenizers and checks them through DJL's real Hugging Face tokenizer. */
class BpeTrainerTest {

    static final List<String> SPECIALS = List.of("<s>", "</s>", "<pad>");

    static final List<String> LINES = List.of(
            "In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void; and darkness was upon the face of the deep.",
            "And God said, Let there be light: and there was light.",
            "Café crème — déjà vu, naïve façade; São Paulo, Zürich, Kraków.",
            "Emoji 🙂🚀 and CJK 漢字かな, Greek αβγ, Cyrillic привет.",
            "\tTabbed\tcolumns\tand trailing spaces   ",
            "   leading spaces and   multiple   gaps",
            "Numbers: 0 1 2 3 42 1999 3.14159 -7 1e-9 0xFF 1_000_000",
            "public static String join(final Object[] array, final char delimiter) {",
            "        if (array == null) { return null; } // guard",
            "    for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
            "Map<String, List<Integer>> m = new HashMap<>(); m.put(\"k\", List.of(1, 2));",
            "/** Javadoc with <b>html</b> & entities &amp; {@code x -> y}. */",
            "It's we're they've I'm you'll he'd — contractions 'quoted' \"double\"",
            "x",
            " ",
            "and the and the and the and the and the and the");

    static List<String> corpus;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void buildCorpus() {
        List<String> c = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            c.addAll(LINES);
        }
        corpus = Collections.unmodifiableList(c);
    }

    private static Path trainAndWrite(int vocab, String name) throws Exception {
        ByteLevelBpe r = BpeTrainer.train(corpus, vocab, SPECIALS);
        Path file = tmp.resolve(name).resolve("tokenizer.json");
        r.writeTokenizerJson(file);
        return file;
    }

    @Test
    void roundTripsEveryLineThroughDjl() throws Exception {
        Path file = trainAndWrite(600, "rt");
        String longLine = String.join(" ", Collections.nCopies(300, "beginning déjà 🙂 x42;"));
        List<String> probes = new ArrayList<>(LINES);
        probes.add(longLine);
        probes.add("Unseen words: quixotic zephyr jackdaws; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000 control\u0007 chars \r\n end");
        try (HuggingFaceTokenizer noSpecials = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(false));
                HuggingFaceTokenizer withSpecials = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(true))) {
            for (String line : probes) {
                long[] ids = noSpecials.encode(line).getIds();
                assertEquals(line, noSpecials.decode(ids, true), "round trip without specials");
                long[] withBos = withSpecials.encode(line).getIds();
                assertEquals(line, withSpecials.decode(withBos, true), "round trip with specials");
            }
        }
    }

    @Test
    void djlTruncatesAt512TokensUnlessTruncationIsDisabled() throws Exception {
        Path file = trainAndWrite(600, "trunc");
        String longLine = String.join(" ", Collections.nCopies(600, "x"));
        try (HuggingFaceTokenizer defaults = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "false"));
                HuggingFaceTokenizer untruncated = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(false))) {
            assertEquals(512, defaults.encode(longLine).getIds().length, "DJL's default truncation");
            assertEquals(600, untruncated.encode(longLine).getIds().length);
        }
    }

    @Test
    void loadsWithPlainNewInstanceAndAddsBosByDefault() throws Exception {
        Path file = trainAndWrite(600, "plain");
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(file)) {
            long[] ids = tok.encode("light").getIds();
            assertEquals(0L, ids[0]);
            assertEquals("light", tok.decode(ids, true));
            assertEquals("<s>light", tok.decode(ids, false));
        }
    }

    @Test
    void prependsBosOnlyWhenSpecialTokensAreAdded() throws Exception {
        Path file = trainAndWrite(600, "bos");
        String line = "And God said, Let there be light: and there was light.";
        try (HuggingFaceTokenizer withSpecials = HuggingFaceTokenizer.builder()
                        .optTokenizerPath(file).optAddSpecialTokens(true).build();
                HuggingFaceTokenizer noSpecials = HuggingFaceTokenizer.builder()
                        .optTokenizerPath(file).optAddSpecialTokens(false).build()) {
            long[] plain = noSpecials.encode(line).getIds();
            long[] bos = withSpecials.encode(line).getIds();
            assertEquals(0L, bos[0], "BOS <s> has id 0");
            assertEquals(plain.length + 1, bos.length);
            assertArrayEquals(plain, Arrays.copyOfRange(bos, 1, bos.length));
            for (long id : plain) {
                assertTrue(id >= 3, "no special token inside plain text encoding");
            }
            // The special tokens themselves are recognised in text and map to ids 0, 1, 2.
            assertArrayEquals(new long[] {0, 1, 2}, noSpecials.encode("<s></s><pad>").getIds());
            assertEquals(line, withSpecials.decode(bos, true));
        }
    }

    @Test
    void mergesShortenTheEncodingAndVocabIsLaidOutAsDocumented() throws Exception {
        ByteLevelBpe r = BpeTrainer.train(corpus, 520, SPECIALS);
        assertEquals(520, r.vocabSize());
        assertEquals(520 - 256 - 3, r.merges().size());
        assertEquals(0, r.tokenId("<s>"));
        assertEquals(1, r.tokenId("</s>"));
        assertEquals(2, r.tokenId("<pad>"));
        assertEquals(3 + '!', r.tokenId("!"));
        assertEquals(3 + ' ', r.tokenId("Ġ"), "space byte maps to GPT-2's Ġ");
        assertEquals(3 + 256, r.vocab().values().stream().filter(id -> id >= 3 + 256).findFirst().orElseThrow());
        assertTrue(r.vocab().containsKey(ByteLevel.toByteLevel(" the")), "frequent word ' the' became one token");
        assertThrows(IllegalArgumentException.class, () -> r.tokenId("definitely-not-a-token"));

        Path file = tmp.resolve("short").resolve("tokenizer.json");
        r.writeTokenizerJson(file);
        JsonObject json = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        assertEquals("1.0", json.get("version").getAsString());
        assertEquals("BPE", json.getAsJsonObject("model").get("type").getAsString());
        assertEquals(520, json.getAsJsonObject("model").getAsJsonObject("vocab").size());
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(false))) {
            long totalTokens = 0;
            long totalBytes = 0;
            for (String line : LINES) {
                int bytes = line.getBytes(StandardCharsets.UTF_8).length;
                int tokens = tok.encode(line).getIds().length;
                assertTrue(tokens <= bytes, "never longer than raw bytes: " + line);
                totalTokens += tokens;
                totalBytes += bytes;
            }
            assertTrue(totalTokens * 2 < totalBytes,
                    "merges should at least halve the length on training text: " + totalTokens + " vs " + totalBytes);
        }
    }

    @Test
    void trainingToExhaustionMakesEveryTrainingWordOneToken() throws Exception {
        ByteLevelBpe r = BpeTrainer.train(corpus, 100_000, SPECIALS);
        assertTrue(r.vocabSize() < 100_000);
        Path file = tmp.resolve("exhaust").resolve("tokenizer.json");
        r.writeTokenizerJson(file);
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(false))) {
            for (String line : LINES) {
                assertEquals(ByteLevel.split(line).size(), tok.encode(line).getIds().length, line);
            }
        }
    }

    @Test
    void djlAppliesTheMergesExactlyLikeAReferenceBpeEncoder() throws Exception {
        ByteLevelBpe r = BpeTrainer.train(corpus, 560, SPECIALS);
        Path file = tmp.resolve("ref").resolve("tokenizer.json");
        r.writeTokenizerJson(file);
        List<String> probes = new ArrayList<>(LINES);
        probes.add("The heavens declare; unseen café 🙂 words 12345 {x -> y}");
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(file, BpeTrainer.djlOptions(false))) {
            for (String line : probes) {
                assertArrayEquals(referenceEncode(r, line), tok.encode(line).getIds(), line);
            }
        }
    }

    /** Textbook BPE: per pre-token, repeatedly merge the adjacent pair with the lowest merge rank. */
    private static long[] referenceEncode(ByteLevelBpe r, String line) {
        Map<String, Integer> rank = new java.util.HashMap<>();
        for (int i = 0; i < r.merges().size(); i++) {
            rank.put(r.merges().get(i), i);
        }
        List<Long> ids = new ArrayList<>();
        for (String piece : ByteLevel.split(line)) {
            String bl = ByteLevel.toByteLevel(piece);
            List<String> syms = new ArrayList<>();
            for (char c : bl.toCharArray()) {
                syms.add(String.valueOf(c));
            }
            while (true) {
                int best = -1;
                int bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < syms.size(); i++) {
                    Integer rk = rank.get(syms.get(i) + " " + syms.get(i + 1));
                    if (rk != null && rk < bestRank) {
                        bestRank = rk;
                        best = i;
                    }
                }
                if (best < 0) {
                    break;
                }
                syms.set(best, syms.get(best) + syms.remove(best + 1));
            }
            for (String sym : syms) {
                ids.add((long) r.tokenId(sym));
            }
        }
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    @Test
    void trainingIsDeterministic() {
        ByteLevelBpe a = BpeTrainer.train(corpus, 500, SPECIALS);
        ByteLevelBpe b = BpeTrainer.train(corpus, 500, SPECIALS);
        assertEquals(a.toTokenizerJson(), b.toTokenizerJson());
    }

    @Test
    void stopsEarlyWhenTheCorpusRunsOutOfPairs() {
        ByteLevelBpe r = BpeTrainer.train(List.of("abab", "ab"), 1000, SPECIALS);
        assertEquals(List.of("a b", "ab ab"), r.merges());
        assertEquals(3 + 256 + 2, r.vocabSize());
    }

    @Test
    void rejectsTooSmallVocab() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BpeTrainer.train(corpus, 259, SPECIALS));
        assertEquals("vocabSize must be at least 260 (256 byte tokens + 3 special tokens + 1) but was 259",
                e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> BpeTrainer.train(corpus, 256, List.of()));
        assertEquals("vocabSize must be at least 257 (256 byte tokens + 0 special tokens + 1) but was 256",
                e2.getMessage());
    }

    @Test
    void rejectsEmptyCorpus() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BpeTrainer.train(List.of(), 4096, SPECIALS));
        assertEquals("corpus is empty: no non-empty lines", e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> BpeTrainer.train(List.of("", ""), 4096, SPECIALS));
        assertEquals("corpus is empty: no non-empty lines", e2.getMessage());
    }

    @Test
    void rejectsBadSpecialTokens() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BpeTrainer.train(corpus, 4096, List.of("<s>", "<s>")));
        assertTrue(e.getMessage().contains("specialTokens"), e.getMessage());
    }

    @Test
    void byteLevelTableMatchesGpt2() {
        assertEquals('Ġ', ByteLevel.byteToChar(' '));
        assertEquals('Ċ', ByteLevel.byteToChar('\n'));
        assertEquals('ĉ', ByteLevel.byteToChar('\t'));
        assertEquals('Ā', ByteLevel.byteToChar(0));
        assertEquals('a', ByteLevel.byteToChar('a'));
        assertEquals('Ń', ByteLevel.byteToChar(0xAD));
        assertEquals(List.of("Hello", ",", " world", "'s", "  ", " 42", "!!"),
                ByteLevel.split("Hello, world's   42!!"));
    }
}
