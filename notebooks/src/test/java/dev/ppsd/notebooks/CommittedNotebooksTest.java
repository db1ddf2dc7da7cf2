package dev.ppsd.notebooks;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.notebooks.kernel.KernelSpec;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The notebooks as committed (what a reader sees on the repository page, before running anything): they use the
 * {@code ppsd-java} kernel, carry the outputs of a complete run on the bundled model, and the README indexes them.
 * Refresh the outputs with {@code -Dppsd.notebooks.update=true} (see notebooks/README.md).
 */
class CommittedNotebooksTest {
    private static Path notebooksDir() {
        Path dir = Path.of("").toAbsolutePath();
        while (!Files.exists(dir.resolve("data/prompts/sample.jsonl"))) {
            dir = dir.getParent();
        }
        return dir.resolve("notebooks");
    }

    private static List<Path> notebooks() throws IOException {
        try (Stream<Path> s = Files.list(notebooksDir())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".ipynb")).sorted().toList();
        }
    }

    @Test
    void everyNotebookCarriesTheOutputsOfACompleteRunOnTheBundledModel() throws IOException {
        List<Path> notebooks = notebooks();
        assertFalse(notebooks.isEmpty(), "no notebooks in " + notebooksDir());
        for (Path p : notebooks) {
            String name = p.getFileName().toString();
            JsonObject nb = JsonParser.parseString(Files.readString(p)).getAsJsonObject();
            assertEquals(KernelSpec.NAME, nb.getAsJsonObject("metadata").getAsJsonObject("kernelspec")
                    .get("name").getAsString(), name + ": kernel");
            int expectedCount = 1;
            StringBuilder text = new StringBuilder();
            for (JsonElement c : nb.getAsJsonArray("cells")) {
                JsonObject cell = c.getAsJsonObject();
                if (!"code".equals(cell.get("cell_type").getAsString())) {
                    continue;
                }
                assertTrue(cell.get("execution_count").isJsonPrimitive()
                                && cell.get("execution_count").getAsInt() == expectedCount++,
                        name + ": code cells must be executed once each, in order (re-run the notebook)");
                for (JsonElement o : cell.getAsJsonArray("outputs")) {
                    JsonObject out = o.getAsJsonObject();
                    assertFalse("error".equals(out.get("output_type").getAsString()), name + " has an error output");
                    if (out.has("text")) {
                        out.getAsJsonArray("text").forEach(t -> text.append(t.getAsString()));
                    }
                }
            }
            assertTrue(text.indexOf("model: models/ppsd-mini") >= 0,
                    name + ": the committed outputs must come from the bundled model models/ppsd-mini");
        }
    }

    @Test
    void theReadmeIndexesEveryNotebook() throws IOException {
        String readme = Files.readString(notebooksDir().resolve("README.md"));
        for (Path p : notebooks()) {
            assertTrue(readme.contains("(" + p.getFileName() + ")"), "README.md does not link " + p.getFileName());
        }
    }
}
