package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.settings.SamplingParams;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * The automaton side of guided decoding without a model: the regex translation against java.util.regex, the JSON
 * Schema subset against parsed JSON, the UTF-8 byte walk over tokens that split characters, EOS only in accepting
 * states, the mask cache, and the rule's rewind when a flush replaces tokens.
 */
class ConstraintTest {
    static final int EOS = 0;

    /** Tokens: EOS (special), every single byte, and some multi-byte pieces that cut characters in the middle. */
    static TokenTable table(boolean strip, String... pieces) {
        List<byte[]> t = new ArrayList<>();
        t.add(null); // EOS
        for (int b = 0; b < 256; b++) {
            t.add(new byte[] {(byte) b});
        }
        for (String p : pieces) {
            t.add(p.getBytes(StandardCharsets.UTF_8));
        }
        byte[] e = "é".getBytes(StandardCharsets.UTF_8); // C3 A9
        byte[] j = "日".getBytes(StandardCharsets.UTF_8); // E6 97 A5
        byte[] g = "😀".getBytes(StandardCharsets.UTF_8); // F0 9F 98 80
        t.add(new byte[] {'c', 'a', 'f', e[0]}); // ends inside é
        t.add(new byte[] {e[1]}); // duplicate of a byte token, fine
        t.add(new byte[] {j[0], j[1]}); // two of three bytes of 日
        t.add(new byte[] {j[2], 'x'}); // its last byte and an ASCII letter
        t.add(new byte[] {g[0], g[1], g[2]});
        t.add(new byte[] {g[3], '!'});
        return TokenTable.of(t.toArray(new byte[0][]), strip);
    }

    static Constraint choices(List<String> choices, TokenTable t) {
        return Constraint.compileStrings("test", choices, t, new int[] {EOS}, new LongAdder(), new LongAdder());
    }

    static Constraint compile(String regexDk, TokenTable t) {
        return Constraint.compile("test", regexDk, t, new int[] {EOS}, new LongAdder(), new LongAdder());
    }

    static String text(TokenTable t, List<Integer> ids) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            if (t.bytes(id) != null) {
                out.writeBytes(t.bytes(id));
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /**
     * Random walks along allowed tokens (uniform over the mask) until EOS or {@code maxTokens}: every walk that ends
     * with EOS spells a text the constraint accepts; returns the texts.
     */
    static Set<String> walk(Constraint c, TokenTable t, int walks, int maxTokens, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Set<String> texts = new HashSet<>();
        for (int w = 0; w < walks; w++) {
            long s = c.start();
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < maxTokens; i++) {
                TokenMask m = c.mask(s);
                assertTrue(m.count() > 0, "a mask is never empty");
                int[] allowed = java.util.stream.IntStream.range(0, t.size()).filter(m::allows).toArray();
                int tok = allowed[r.nextInt(allowed.length)];
                if (tok == EOS) {
                    assertTrue(c.accepting(s), "EOS only in accepting states");
                    String text = text(t, ids);
                    assertTrue(c.matches(text), "accepted walk " + ids + " spells '" + text + "'");
                    texts.add(text);
                    break;
                }
                s = c.step(s, tok);
                assertTrue(s >= 0, "an allowed token keeps the state live");
                ids.add(tok);
            }
        }
        return texts;
    }

    @Test
    void regexTranslationMatchesJavaRegex() {
        String[] regexes = {"[a-c]+x?", "\\d{2,3}-\\w*", "(?:ab|cd)*e", "a.b", "[^a-z]{1,2}", "\\s*\\.\\+",
            "(?<y>\\d{4})-(0[1-9]|1[0-2])", "x{2}y{1,}z{0,1}", "[\\d_]+", "\\x41\\u00e9\\n", "a|", "colou?r",
            "[-a]+", "[a-]+", "\\$\\^\\[\\]\\(\\)\\{\\}\\|\\*\\?", "\"q\"&~#@<>", "(a+?)b*?", "\\S\\W\\D"};
        String[] samples = {"", "a", "abc", "abcx", "12-", "123-ab_c", "1234-", "abcde", "e", "cdabe", "a\nb", "axb",
            "AB", "1", "!!", " \t.+", "2024-12", "2024-13", "xxyyz", "xxy", "_1_", "Aé\n", "colour", "color", "-a-",
            "$^[](){}|*?", "\"q\"&~#@<>", "aab", "ab", "x!z", "x a"};
        for (String re : regexes) {
            RegexSyntax.Translated t = RegexSyntax.translate(re, "guided_regex");
            dk.brics.automaton.RunAutomaton a = new dk.brics.automaton.RunAutomaton(
                    new dk.brics.automaton.RegExp(t.regex(), dk.brics.automaton.RegExp.INTERSECTION).toAutomaton());
            Pattern p = Pattern.compile(re);
            for (String s : samples) {
                assertEquals(p.matcher(s).matches(), a.run(s), "regex " + re + " (" + t.regex() + ") on '" + s + "'");
            }
        }
    }

    @Test
    void unsupportedRegexSyntaxIsRefusedWithTheReason() {
        String[][] cases = {{"(ab", "unbalanced parenthesis '('"}, {"ab)", "unbalanced parenthesis ')'"},
            {"a(?=b)", "lookaround"}, {"(a)\\1", "backreferences"}, {"\\bword", "boundary"}, {"(?i)abc", "inline flags"},
            {"a++", "possessive"}, {"\\p{L}", "Unicode property"}, {"a^b", "anchor ^"}, {"[abc", "unterminated"},
            {"*a", "nothing to repeat"}, {"a{3,2}", "max < min"}, {"[z-a]", "out of order"}, {"a{2,1001}", "above 1000"}};
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RegexSyntax.translate(c[0], "guided_regex"), c[0]);
            assertTrue(e.getMessage().startsWith("guided_regex: ") && e.getMessage().contains(c[1]),
                    c[0] + ": " + e.getMessage());
        }
    }

    @Test
    void jsonSchemaSubsetAcceptsValidAndRefusesInvalidJson() {
        String schema = """
                {"type": "object", "properties": {
                   "name": {"type": "string", "minLength": 1, "maxLength": 5},
                   "age": {"type": "integer"},
                   "score": {"type": "number"},
                   "ok": {"type": "boolean"},
                   "none": {"type": "null"},
                   "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1,
                            "maxItems": 2},
                   "code": {"type": "string", "pattern": "^[A-Z]{2}\\\\d$"},
                   "inner": {"type": "object", "properties": {"x": {"type": ["integer", "null"]}}, "required": ["x"],
                             "additionalProperties": false},
                   "kind": {"enum": ["x", 1, null]}
                 }, "required": ["name", "tags"], "description": "ignored"}""";
        String re = JsonSchemaRegex.toRegex(schema);
        dk.brics.automaton.RunAutomaton a = new dk.brics.automaton.RunAutomaton(
                new dk.brics.automaton.RegExp(re, dk.brics.automaton.RegExp.INTERSECTION).toAutomaton());
        String[] valid = {"{\"name\":\"Al\",\"tags\":[\"a\"]}",
            " {\n \"name\": \"A\\\"b\",\n \"age\": -12,\n \"tags\": [\"a\", \"b\"]\n} ",
            "{\"name\":\"x\",\"age\":0,\"score\":-0.5e+3,\"ok\":true,\"none\":null,\"tags\":[\"b\"],\"code\":\"AB1\","
                    + "\"inner\":{\"x\":null},\"kind\":1}",
            "{\"name\":\"\\u00e9t\\u00e9\",\"tags\":[\"a\"],\"inner\":{\"x\":7}}"};
        String[] invalid = {"{\"tags\":[\"a\"]}", "{\"name\":\"\",\"tags\":[\"a\"]}", "{\"name\":\"abcdef\",\"tags\":[\"a\"]}",
            "{\"name\":\"x\",\"tags\":[]}", "{\"name\":\"x\",\"tags\":[\"a\",\"b\",\"a\"]}", "{\"name\":\"x\",\"tags\":[\"c\"]}",
            "{\"tags\":[\"a\"],\"name\":\"x\"}", "{\"name\":\"x\",\"tags\":[\"a\"],\"age\":01}",
            "{\"name\":\"x\",\"tags\":[\"a\"],\"code\":\"ab1\"}", "{\"name\":\"x\",\"tags\":[\"a\"],\"inner\":{}}",
            "{\"name\":\"x\",\"tags\":[\"a\"],\"other\":1}", "{\"name\":\"x\",\"tags\":[\"a\"]", "{\"name\":\"x\"\n\n\n,\"tags\":[\"a\"]}",
            "{\"name\":\"a\nb\",\"tags\":[\"a\"]}"};
        for (String v : valid) {
            assertTrue(a.run(v), "valid: " + v);
            JsonParser.parseString(v); // and it is JSON
        }
        for (String v : invalid) {
            assertFalse(a.run(v), "invalid: " + v);
        }
    }

    @Test
    void unsupportedSchemaKeywordsAreRefusedNamingTheKeyword() {
        String[][] cases = {
            {"{\"type\":\"integer\",\"minimum\":3}", "unsupported keyword 'minimum' at /"},
            {"{\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[]}}}", "unsupported keyword 'anyOf' at /properties/a"},
            {"{\"type\":\"string\",\"format\":\"date\"}", "unsupported keyword 'format'"},
            {"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":true}", "additionalProperties"},
            {"{\"type\":\"array\"}", "needs 'items'"}, {"{\"type\":\"object\"}", "needs 'properties'"},
            {"{\"type\":\"string\",\"items\":{}}", "'items' does not apply to type string"},
            {"{\"type\":\"date\"}", "unsupported type"}, {"{\"enum\":[]}", "non-empty"},
            {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"}},\"required\":[\"b\"]}", "'b' is not in"},
            {"{\"$ref\":\"#/x\"}", "unsupported keyword '$ref'"}, {"{\"description\":\"x\"}", "needs 'type' or 'enum'"}};
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> JsonSchemaRegex.toRegex(c[0]), c[0]);
            assertTrue(e.getMessage().startsWith("guided_json: ") && e.getMessage().contains(c[1]),
                    c[0] + ": " + e.getMessage());
        }
    }

    @Test
    void multiByteChoicesAreReachedThroughTokensThatSplitCharacters() {
        TokenTable t = table(false, "ca", "fé", "日本", "本語", "\u00e9t");
        List<String> choices = List.of("café", "日本語x", "😀!", "été");
        Constraint c = choices(choices, t);
        Set<String> texts = walk(c, t, 400, 40, 7);
        assertEquals(Set.copyOf(choices), texts, "random walks reach every choice and nothing else");
        // the token that ends inside é is allowed only where é may follow, and leaves a pending byte
        int cafPartial = 257 + 5;
        long s = c.step(c.start(), cafPartial);
        assertTrue(s >= 0 && !c.accepting(s), "café minus its last byte is live, not accepting");
        assertFalse(c.mask(s).allows(EOS), "no EOS inside a character");
        assertTrue(c.mask(s).allows(1 + 0xA9), "the continuation byte of é");
        assertFalse(c.mask(s).allows(1 + 0xA8), "another continuation byte makes another character");
        assertTrue(c.accepting(c.step(s, 1 + 0xA9)));
        // a lone continuation byte, or a lead byte that begins no choice, is never allowed at the start
        assertFalse(c.mask(c.start()).allows(1 + 0xA9));
        assertFalse(c.mask(c.start()).allows(1 + 0xC3 + 1));
    }

    @Test
    void thousandsOfChoicesAndLongLiteralsCompile() {
        SplittableRandom r = new SplittableRandom(5);
        List<String> choices = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            choices.add("item-" + Long.toString(r.nextLong() & Long.MAX_VALUE, 36) + (i % 7 == 0 ? "\"q\"" : ""));
        }
        String longOne = "x".repeat(10_000) + "\"end\"";
        choices.add(longOne);
        TokenTable t = table(false);
        Constraint c = choices(choices, t);
        assertTrue(c.matches(choices.get(7)) && c.matches(longOne) && !c.matches("item-"));
        String re = RegexSyntax.translate("a" + "bc".repeat(2_000) + "\\d+", "guided_regex").regex();
        assertTrue(compile(re, t).matches("a" + "bc".repeat(2_000) + "42"));
    }

    @Test
    void maskIsComputedOncePerStateAndShared() {
        TokenTable t = table(false);
        LongAdder builds = new LongAdder();
        Constraint c = Constraint.compile("test", "[a-z]{1,3}", t, new int[] {EOS}, builds, new LongAdder());
        long before = builds.sum();
        TokenMask m = c.mask(c.step(c.start(), 1 + 'a'));
        assertTrue(m.allows(EOS) && m.allows(1 + 'b') && !m.allows(1 + 'B'));
        assertEquals(before + 1, builds.sum());
        assertTrue(m == c.mask(c.step(c.start(), 1 + 'a')), "the same state: the cached mask");
        assertEquals(before + 1, builds.sum());
        TokenMask full = c.mask(c.step(c.step(c.step(c.start(), 1 + 'a'), 1 + 'b'), 1 + 'c'));
        assertEquals(1, full.count(), "after three letters only EOS");
    }

    @Test
    void maskingKeepsExactlyTheAllowedLogitsOnEveryPath() {
        SplittableRandom r = new SplittableRandom(3);
        int vocab = 5000;
        for (double density : new double[] {0.001, 0.1, 0.4, 0.6, 0.99}) {
            long[] bits = new long[(vocab + 63) / 64];
            for (int i = 0; i < vocab; i++) {
                if (r.nextDouble() < density) {
                    bits[i >>> 6] |= 1L << i;
                }
            }
            TokenMask m = new TokenMask(bits);
            for (int length : new int[] {vocab, vocab + 70}) { // logits longer than the tokenizer: padding ids
                float[] logits = new float[length];
                for (int i = 0; i < length; i++) {
                    logits[i] = (float) r.nextGaussian();
                }
                float[] want = logits.clone();
                for (int i = 0; i < length; i++) {
                    if (i >= vocab || (bits[i >>> 6] & (1L << i)) == 0) {
                        want[i] = Float.NEGATIVE_INFINITY;
                    }
                }
                m.apply(logits);
                assertTrue(Arrays.equals(want, logits), "density " + density + ", " + length + " logits");
            }
        }
    }

    @Test
    void leadingBlankDroppedByTheDecoderIsSkippedOnce() {
        TokenTable t = table(true, " yes", " no");
        Constraint c = choices(List.of("yes", " no"), t);
        int yes = 257;
        int no = 258;
        assertTrue(c.mask(c.start()).allows(yes), "' yes' decodes to 'yes' as the first token");
        assertTrue(c.accepting(c.step(c.start(), yes)));
        long blank = c.step(c.start(), 1 + ' '); // the dropped blank
        assertTrue(c.mask(blank).allows(no), "then ' no' keeps its blank");
        assertFalse(c.mask(c.start()).allows(no), "' no' first decodes to 'no'");
    }

    @Test
    void constraintsNothingSatisfiesAreRefused() {
        TokenTable t = table(false);
        assertThrows(IllegalArgumentException.class, () -> compile("a&b", t));
        // a text of bytes no token has: only the special EOS remains
        byte[][] onlyLetters = new byte[27][];
        for (int i = 1; i < 27; i++) {
            onlyLetters[i] = new byte[] {(byte) ('a' + i - 1)};
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> compile("[0-9]+", TokenTable.of(onlyLetters, false)));
        assertTrue(e.getMessage().contains("no token of the model's vocabulary"), e.getMessage());
    }

    @Test
    void ruleRewindsWhenAFlushReplacesTokens() {
        TokenTable t = table(false);
        Constraint c = choices(List.of("ab", "cd"), t);
        LongAdder n = new LongAdder();
        GuidedRule rule = new GuidedRule(c, n, new LongAdder());
        int vocab = t.size();
        Sequence seq = new Sequence(new GenerationRequest("r", "x", SamplingParams.greedy(8)), new int[] {5, 6},
                512, List.of(rule));
        // drafts in flight: 'a' then the mask after it allows only 'b'
        int a = 1 + 'a';
        int b = 1 + 'b';
        int cc = 1 + 'c';
        int d = 1 + 'd';
        assertEquals(b, seq.propose(favour(vocab, d, b), new int[] {a}).token(), "after a: b, d is masked");
        // a flush: the correction c replaces the draft a; the same position now allows only d
        assertEquals(d, seq.propose(favour(vocab, b, d), new int[] {cc}).token(), "after c: d");
        // back to the committed history (nothing generated): a or c, never b or d
        assertEquals(cc, seq.sample(favour(vocab, b, cc)));
        assertFalse(seq.commit(cc, new StopCriteria(Set.of(EOS), null)));
        assertEquals(d, seq.sample(favour(vocab, a, d)), "committed c: d");
        assertEquals(4, n.sum());
    }

    /** Logits preferring {@code best}, then {@code second}, every other token lower. */
    static float[] favour(int vocab, int best, int second) {
        float[] l = new float[vocab];
        Arrays.fill(l, -5f);
        l[best] = 10f;
        l[second] = 5f;
        return l;
    }
}
