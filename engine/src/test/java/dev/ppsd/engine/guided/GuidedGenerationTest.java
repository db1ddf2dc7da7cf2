package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Guided decoding on the bundled model ({@code models/ppsd-mini}): every text of a row with {@code guided_choice},
 * {@code guided_regex} or {@code guided_json} satisfies its constraint (equal to a choice, matched by
 * java.util.regex, parsed by Gson and checked against the schema by {@link SchemaCheck}) under {@code ar},
 * {@code ppsd} and {@code eesd}, greedy and sampled; greedy {@code ppsd} / {@code eesd} are token-identical to
 * {@code ar}; a row the budget ends first is {@code length} and incomplete; bad constraints fail their own row.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GuidedGenerationTest {
    static final Path MODEL = Path.of("..", "models", "ppsd-mini");
    static final int BUDGET = 64;
    static final List<String> PROMPTS = List.of("In the beginning God created", "public static int max(int a, int b)",
            "And the LORD said unto Moses,", "/** Returns the name of the file */");
    static final String PERSON = """
            {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
              "age": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["bible", "java", "other"]},
              "maxItems": 3}, "married": {"type": "boolean"}}, "required": ["name", "age"]}""";
    static final String BOOK = """
            {"type": "object", "properties": {"book": {"type": "object", "properties": {"title": {"type": "string",
              "minLength": 1, "maxLength": 10, "pattern": "^[A-Z]"}, "chapter": {"type": "integer"}},
              "required": ["title", "chapter"]}, "verses": {"type": "array", "items": {"type": "integer"},
              "minItems": 1, "maxItems": 3}, "note": {"type": ["string", "null"], "maxLength": 8}},
              "required": ["book", "verses"]}""";

    /** One constraint: the setting, its value, and the test's own check of a text (null = satisfied). */
    record Case(String label, SamplingParams params, java.util.function.Function<String, String> check) {
    }

    static final List<Case> CASES = List.of(
            choice("sentiment", List.of("positive", "negative", "neutral")),
            choice("multi-byte", List.of("café", "naïve", "日本語", "über 😀")),
            regex("date", "\\d{4}-\\d{2}-\\d{2}"),
            regex("answer", "(yes|no), [a-z ]{3,20}\\."),
            json("person", PERSON),
            json("book", BOOK),
            json("enum", "{\"type\": \"string\", \"enum\": [\"Genesis\", \"Exodus\", \"Ünïcode\"]}"));

    static Case choice(String label, List<String> choices) {
        return new Case("choice " + label, SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_CHOICE, choices),
                t -> choices.contains(t) ? null : "'" + t + "' is not one of " + choices);
    }

    static Case regex(String label, String re) {
        return new Case("regex " + label, SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_REGEX, re),
                t -> Pattern.compile(re).matcher(t).matches() ? null : "'" + t + "' does not match " + re);
    }

    static Case json(String label, String schema) {
        return new Case("json " + label, SamplingParams.greedy(BUDGET).withValue(Settings.GUIDED_JSON, schema),
                t -> SchemaCheck.check(t, schema));
    }

    private final List<GenerationRequest> requests = new ArrayList<>();
    private final List<Case> caseOf = new ArrayList<>();
    private List<GenerationResult> ar;

    @BeforeAll
    void runAr() {
        for (Case c : CASES) {
            for (int i = 0; i < PROMPTS.size(); i++) {
                requests.add(new GenerationRequest(c.label() + " #" + i, PROMPTS.get(i), c.params()));
                caseOf.add(c);
            }
        }
        ar = run(EngineOptions.of(MODEL).with(Settings.BATCH_SIZE, 8), requests, "ar greedy");
    }

    private List<GenerationResult> run(EngineOptions o, List<GenerationRequest> reqs, String label) {
        try (GenerationEngine e = GenerationEngine.open(o)) {
            long t0 = System.nanoTime();
            List<GenerationResult> out = e.generate(reqs);
            double ms = (System.nanoTime() - t0) / 1e6;
            int complete = 0;
            for (int i = 0; i < out.size(); i++) {
                GenerationResult r = out.get(i);
                assertTrue(r.ok(), r.id() + ": " + r.error());
                if (Boolean.FALSE.equals(r.incomplete())) {
                    complete++;
                    String why = caseOf.get(i).check().apply(r.text());
                    assertNull(why, label + ", " + r.id() + ": " + why);
                    // EOS, or the budget ended right after the token that completed the text
                    assertTrue(r.finishReason() == FinishReason.EOS || r.finishReason() == FinishReason.LENGTH,
                            r.id());
                } else {
                    // the budget ended it: the text so far is not yet a whole answer
                    assertEquals(Boolean.TRUE, r.incomplete(), r.id());
                    assertEquals(FinishReason.LENGTH, r.finishReason(), r.id() + " '" + r.text() + "'");
                    assertEquals(BUDGET, r.newTokens(), r.id());
                    assertTrue(caseOf.get(i).check().apply(r.text()) != null, r.id() + ": flagged incomplete but"
                            + " satisfies its constraint: '" + r.text() + "'");
                }
            }
            GuidedDecoding.Stats s = e.guided().stats();
            System.out.printf("[GuidedGenerationTest] %-22s %d / %d complete, %.0f ms; %d constraints, %d masks"
                    + " built (%.1f ms), %d applications (%.1f ms)%n", label, complete, out.size(), ms, s.compiles(),
                    s.maskBuilds(), s.maskBuildMs(), s.applies(), s.applyMs());
            for (int i = 0; i < out.size(); i += PROMPTS.size()) {
                System.out.printf("[GuidedGenerationTest]   %-22s %s%n", out.get(i).id(),
                        out.get(i).text().replace("\n", "\\n"));
            }
            assertTrue(complete >= out.size() * 3 / 4, label + ": most rows should complete within " + BUDGET
                    + " tokens: " + complete + " / " + out.size());
            return out;
        }
    }

    @Test
    void greedyPpsdAndEesdAreTokenIdenticalToAr() {
        for (EngineOptions o : List.of(
                EngineOptions.of(MODEL).with(Settings.MODE, "ppsd").with(Settings.STAGES, "cpu,cpu")
                        .with(Settings.SPECULATION, "always").with(Settings.BATCH_SIZE, 8),
                EngineOptions.of(MODEL).with(Settings.MODE, "eesd").with(Settings.GAMMA, "3"))) {
            String label = o.get(Settings.MODE) + " greedy";
            List<GenerationResult> got = run(o, requests, label);
            long proposed = 0;
            long accepted = 0;
            for (int i = 0; i < got.size(); i++) {
                assertArrayEquals(ar.get(i).tokenIds(), got.get(i).tokenIds(), label + ", " + got.get(i).id());
                assertEquals(ar.get(i).text(), got.get(i).text());
                assertEquals(ar.get(i).incomplete(), got.get(i).incomplete());
                proposed += got.get(i).spec().draftsProposed();
                accepted += got.get(i).spec().draftsAccepted();
            }
            assertTrue(accepted > 0 && accepted < proposed, label + ": accepted and rejected drafts: " + accepted
                    + " / " + proposed);
        }
    }

    @Test
    void sampledTextsSatisfyTheirConstraints() {
        List<GenerationRequest> sampled = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            GenerationRequest r = requests.get(i);
            sampled.add(r.with(r.params().withValue(Settings.TEMPERATURE, 0.9).withValue(Settings.TOP_P, 0.95)
                    .withValue(Settings.SEED, 100L + i)));
        }
        run(EngineOptions.of(MODEL).with(Settings.MODE, "ppsd").with(Settings.STAGES, "cpu,cpu")
                .with(Settings.SPECULATION, "always").with(Settings.BATCH_SIZE, 8), sampled, "ppsd sampled");
    }
}
