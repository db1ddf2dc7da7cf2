package dev.ppsd.engine.golden;

import dev.ppsd.engine.settings.Settings;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loads the shipped model ({@code models/ppsd-mini}) and checks fixed-seed generations (greedy and sampled,
 * in ar, ppsd and spd mode) against the outputs stored in {@code golden/ppsd-mini.jsonl}, so an accidental change
 * to the weights, the tokenizer or the forward pass is caught. To regenerate after an intended change:
 * {@code mvn -pl engine test -Dtest=ShippedModelGoldenTest -Dppsd.golden.write=true}.
 */
class ShippedModelGoldenTest {
    static final Path MODEL = Path.of("..", "models", "ppsd-mini");
    static final Path GOLDEN = Path.of("src", "test", "resources", "golden", "ppsd-mini.jsonl");

    /** Prompt, temperature, top-p, seed of each case. */
    record Case(String prompt, float temperature, float topP, long seed) {
        SamplingParams params() {
            return SamplingParams.greedy(24).withValue(Settings.TEMPERATURE, temperature).withValue(Settings.TOP_P, topP).withValue(Settings.SEED, seed);
        }
    }

    static final List<Case> CASES = List.of(
            new Case("In the beginning God created", 0f, 1f, 0),
            new Case("And the LORD said unto Moses,", 0f, 1f, 0),
            new Case("public static String join(", 0f, 1f, 0),
            new Case("And it came to pass", 0.8f, 0.95f, 42));

    @Test
    void fixedSeedGenerationsMatchTheStoredOutputs() throws IOException {
        assertTrue(Files.isRegularFile(MODEL.resolve("model.safetensors")), "shipped model missing at " + MODEL.toAbsolutePath());
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < CASES.size(); i++) {
            requests.add(new GenerationRequest(String.valueOf(i), CASES.get(i).prompt(), CASES.get(i).params()));
        }
        List<GenerationResult> ar;
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(MODEL).with(Settings.MODE, "ar")
                .with(Settings.BATCH_SIZE, 1))) {
            ar = e.generate(requests);
        }
        if (Boolean.getBoolean("ppsd.golden.write")) {
            StringBuilder out = new StringBuilder();
            for (GenerationResult r : ar) {
                JsonObject o = new JsonObject();
                o.addProperty("prompt", CASES.get(Integer.parseInt(r.id())).prompt());
                o.addProperty("text", r.text());
                JsonArray ids = new JsonArray();
                for (int t : r.tokenIds()) {
                    ids.add(t);
                }
                o.add("token_ids", ids);
                out.append(o).append('\n');
            }
            Files.writeString(GOLDEN, out.toString(), StandardCharsets.UTF_8);
        }
        List<String> lines = Files.readAllLines(GOLDEN, StandardCharsets.UTF_8);
        assertEquals(CASES.size(), lines.size(), "golden file has one line per case");
        for (int i = 0; i < CASES.size(); i++) {
            JsonObject g = JsonParser.parseString(lines.get(i)).getAsJsonObject();
            int[] expected = g.getAsJsonArray("token_ids").asList().stream().mapToInt(JsonElement::getAsInt).toArray();
            assertArrayEquals(expected, ar.get(i).tokenIds(), "case " + i + " (" + CASES.get(i).prompt() + ")");
            assertEquals(g.get("text").getAsString(), ar.get(i).text(), "case " + i);
        }
        // greedy ppsd and spd, drafting every cycle, are token-identical to the stored AR output: ppsd with the
        // default drafter plan (the shared head after layer 4) and with the shipped trained head, spd with the
        // shipped SPD head
        EngineOptions always = EngineOptions.of(MODEL).with(Settings.BATCH_SIZE, 1).with(Settings.SPECULATION, "always");
        for (EngineOptions o : List.of(always.with(Settings.MODE, "ppsd"),
                always.with(Settings.MODE, "ppsd").with(Settings.EXIT_HEAD, MODEL.resolve("exit_head").toString()),
                always.with(Settings.MODE, "spd"))) {
            String mode = o.get(Settings.MODE) + " " + o.get(Settings.EXIT_HEAD);
            try (GenerationEngine e = GenerationEngine.open(o)) {
                List<GenerationResult> spec = e.generate(requests.subList(0, 3));
                for (int i = 0; i < 3; i++) {
                    assertArrayEquals(ar.get(i).tokenIds(), spec.get(i).tokenIds(), mode + ": case " + i);
                    assertTrue(spec.get(i).spec().draftsProposed() > 0, mode + ": drafted for case " + i);
                }
            }
        }
    }
}
