package dev.ppsd.tools.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Split determinism, prompt extraction rules, JSONL format and error messages of {@link CorpusSplit}. */
class CorpusSplitTest {

    @TempDir
    Path tmp;

    private static List<String> proseLines(int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            lines.add("And verse number " + i + " said unto them, go forth and multiply the " + (i * 7) + " sheep.");
        }
        return lines;
    }

    private static List<String> codeLines(int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            switch (i % 5) {
                case 0 -> lines.add("        final String tag" + i + " = \"<a&b>\" + compute(" + i + ", alpha, beta, gamma, delta);");
                case 1 -> lines.add("     * Javadoc comment line " + i + " that is not a prompt.");
                case 2 -> lines.add("import java.util.List" + i + ";");
                case 3 -> lines.add("}");
                default -> lines.add("    public static String method" + i + "(Map<String, List<Integer>> m) {");
            }
        }
        return lines;
    }

    @Test
    void splitIsDeterministicDisjointAndAboutTwoPercent() {
        List<String> lines = proseLines(20_000);
        CorpusSplit.Split a = CorpusSplit.split(lines, CorpusSplit.HELD_OUT_FRACTION);
        CorpusSplit.Split b = CorpusSplit.split(new ArrayList<>(lines), CorpusSplit.HELD_OUT_FRACTION);
        assertEquals(a, b);
        assertEquals(lines.size(), a.train().size() + a.heldOut().size());
        double frac = a.heldOut().size() / (double) lines.size();
        assertTrue(frac > 0.015 && frac < 0.025, "held-out fraction " + frac);
        Set<String> train = new HashSet<>(a.train());
        for (String h : a.heldOut()) {
            assertFalse(train.contains(h));
        }
        // Depends only on the text: a held-out line stays held out in any other corpus.
        String held = a.heldOut().get(0);
        assertTrue(CorpusSplit.split(List.of("x", held, "y"), 0.02).heldOut().contains(held));
        assertEquals(0, CorpusSplit.split(lines, 0.0).heldOut().size());
        assertEquals(lines.size(), CorpusSplit.split(lines, 1.0).heldOut().size());
        assertThrows(IllegalArgumentException.class, () -> CorpusSplit.split(lines, 1.5));
    }

    @Test
    void lineHashIsStable() {
        // Pinned so that the split never silently changes between versions.
        assertEquals(0xa917a3bc4bf4b3faL, CorpusSplit.lineHash("In the beginning"));
        assertNotEquals(CorpusSplit.lineHash("a"), CorpusSplit.lineHash("b"));
    }

    @Test
    void prosePromptsArePrefixesOfSixToTwelveWords() throws Exception {
        List<String> held = proseLines(400);
        held.add("Too short to prompt.");
        Path out = tmp.resolve("p/bible.jsonl");
        CorpusSplit.writePrompts(held, "bible", 50, 7L, out);
        List<String> jsonl = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(50, jsonl.size());
        Set<String> prompts = new HashSet<>();
        for (int i = 0; i < jsonl.size(); i++) {
            JsonObject o = JsonParser.parseString(jsonl.get(i)).getAsJsonObject();
            assertEquals(List.of("id", "prompt", "domain"), new ArrayList<>(o.keySet()));
            assertEquals(String.format("bible-%04d", i + 1), o.get("id").getAsString());
            assertEquals("bible", o.get("domain").getAsString());
            String p = o.get("prompt").getAsString();
            int words = p.split(" ").length;
            assertTrue(words >= 6 && words <= 12, p);
            assertTrue(held.stream().anyMatch(l -> l.startsWith(p + " ")), "prefix of a held-out line: " + p);
            assertTrue(prompts.add(p), "distinct");
        }
        Path again = tmp.resolve("p/again.jsonl");
        CorpusSplit.writePrompts(held, "bible", 50, 7L, again);
        assertEquals(jsonl, Files.readAllLines(again, StandardCharsets.UTF_8), "same seed, same prompts");
        CorpusSplit.writePrompts(held, "bible", 50, 8L, again);
        assertNotEquals(jsonl, Files.readAllLines(again, StandardCharsets.UTF_8), "other seed, other prompts");
    }

    @Test
    void codePromptsAreHeadsOfStrippedCodeLines() throws Exception {
        List<String> held = codeLines(1000);
        Path out = tmp.resolve("code.jsonl");
        CorpusSplit.writePrompts(held, "code", 120, 1L, out);
        List<String> jsonl = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(120, jsonl.size());
        assertTrue(jsonl.stream().anyMatch(l -> l.contains("<a&b>")), "no HTML escaping in JSONL");
        Set<String> stripped = new HashSet<>();
        held.forEach(l -> stripped.add(l.strip()));
        for (String line : jsonl) {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            String p = o.get("prompt").getAsString();
            assertTrue(stripped.stream().anyMatch(l -> l.startsWith(p + " ") && p.length() < 0.75 * l.length()), p);
            assertFalse(p.startsWith("*") || p.startsWith("import ") || p.equals("}"), p);
            assertEquals(p, p.strip());
        }
    }

    @Test
    void tooFewEligibleLinesFailsClearly() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CorpusSplit.selectPrompts(List.of("short line", "}"), "code", 3, 1L));
        assertTrue(e.getMessage().contains("need count=3") && e.getMessage().contains("'code'"), e.getMessage());
    }

    @Test
    void missingOrEmptyCorpusFileIsNamed() throws Exception {
        Path missing = tmp.resolve("nope.txt");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CorpusSplit.readCorpus(missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("does not exist"), e.getMessage());
        Path empty = Files.writeString(tmp.resolve("empty.txt"), "\n  \n");
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> CorpusSplit.readCorpus(empty));
        assertTrue(e2.getMessage().contains(empty.toString()) && e2.getMessage().contains("empty"), e2.getMessage());
        Path latin1 = Files.write(tmp.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xE9, '\n'});
        IllegalArgumentException e3 = assertThrows(IllegalArgumentException.class, () -> CorpusSplit.readCorpus(latin1));
        assertTrue(e3.getMessage().contains(latin1.toString()) && e3.getMessage().contains("UTF-8"), e3.getMessage());
    }

    @Test
    void mainWritesSplitsPromptsAndSample() throws Exception {
        Path corpus = Files.createDirectories(tmp.resolve("corpus"));
        Files.write(corpus.resolve("bible.txt"), proseLines(5_000), StandardCharsets.UTF_8);
        Files.write(corpus.resolve("code.txt"), codeLines(20_000), StandardCharsets.UTF_8);
        Path prompts = tmp.resolve("prompts");
        CorpusSplit.main(new String[] {corpus.toString(), prompts.toString(), "20"});
        for (String d : CorpusSplit.DOMAINS) {
            List<String> all = Files.readAllLines(corpus.resolve(d + ".txt"));
            List<String> train = Files.readAllLines(corpus.resolve("train-" + d + ".txt"));
            List<String> held = Files.readAllLines(corpus.resolve("heldout-" + d + ".txt"));
            assertEquals(all.size(), train.size() + held.size());
            assertEquals(20, Files.readAllLines(prompts.resolve(d + ".jsonl")).size());
        }
        List<String> sample = Files.readAllLines(prompts.resolve("sample.jsonl"));
        assertEquals(12, sample.size());
        assertTrue(sample.get(0).contains("\"domain\":\"bible\"") && sample.get(11).contains("\"domain\":\"code\""));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CorpusSplit.main(new String[] {tmp.resolve("none").toString(), prompts.toString()}));
        assertTrue(e.getMessage().contains("bible.txt"), e.getMessage());
    }
}
