package dev.ppsd.tools.cli;

import static dev.ppsd.tools.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.model.TinyModels;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ppsd generate} with the guided settings as flags: the text is one of the {@code --guided-choice} values
 * or valid JSON for {@code --guided-json}, the JSON line has {@code incomplete} (absent without a constraint), and a
 * bad constraint is that prompt's {@code error}.
 */
class GuidedGenerateTest {
    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void tinyModel() throws IOException {
        model = TinyModels.write(dir.resolve("tiny"), TinyModels.config(2, 512), 42);
    }

    private static JsonObject generate(String... args) {
        List<String> a = new java.util.ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt",
                "In the beginning"));
        a.addAll(List.of(args));
        CliHarness.Run r = run(a.toArray(String[]::new)).ok();
        return JsonParser.parseString(r.out().trim()).getAsJsonObject();
    }

    @Test
    void choiceJsonAndTheIncompleteField() {
        JsonObject c = generate("--guided-choice", "north", "--guided-choice", "south", "--max-new-tokens", "12");
        assertTrue(List.of("north", "south").contains(c.get("text").getAsString()), c.toString());
        assertFalse(c.get("incomplete").getAsBoolean(), c.toString());
        JsonObject j = generate("--guided-json", "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},"
                + "\"required\":[\"n\"]}", "--max-new-tokens", "40", "--mode", "ppsd");
        if (!j.get("incomplete").getAsBoolean()) {
            assertTrue(JsonParser.parseString(j.get("text").getAsString()).getAsJsonObject().get("n")
                    .getAsJsonPrimitive().isNumber(), j.toString());
        }
        JsonObject cut = generate("--guided-regex", "[a-z]{20}", "--max-new-tokens", "3");
        assertEquals("length", cut.get("finish_reason").getAsString());
        assertTrue(cut.get("incomplete").getAsBoolean(), cut.toString());
        assertFalse(generate("--max-new-tokens", "2").has("incomplete"), "no constraint: no incomplete field");
        assertEquals("guided_regex: lookaround (?=, ?!, ?<=, ?<!) is not supported at position 1 of a(?=b)",
                generate("--guided-regex", "a(?=b)").get("error").getAsString());
    }
}
