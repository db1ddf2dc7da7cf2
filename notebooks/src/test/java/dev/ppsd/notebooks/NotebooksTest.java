package dev.ppsd.notebooks;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.model.TinyModels;
import dev.ppsd.notebooks.kernel.KernelSpec;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Executes every notebook of {@code notebooks/} as a user's Jupyter would: {@code jupyter nbconvert --execute}
 * with the {@code ppsd-java} kernel ({@link dev.ppsd.notebooks.kernel.JShellKernel}), cell by cell, stopping at
 * the first cell that fails. Then reads the executed notebook and checks that every code cell ran, that no cell
 * has an error or stderr output, and that the lines the notebook prints about its results are there.
 *
 * <p>Model: {@code PPSD_MODEL} (or {@code -Dppsd.model}) when set, else the bundled {@code models/ppsd-mini}; when
 * neither exists, a tiny random model (the machinery is the same, the text is noise).
 *
 * <p>{@code -Dppsd.notebooks.update=true} copies the executed notebooks, outputs included, over the committed ones.
 *
 * <p>Needs Jupyter's {@code nbconvert} ({@code apt-get install jupyter-nbconvert}); without it the test is
 * skipped, saying so, except under CI ({@code CI=true}), where it fails.
 */
class NotebooksTest {
    private static final long NOTEBOOK_TIMEOUT_S = 600;

    private static Path repo;
    private static Path out;
    private static Path model;
    private static Path jupyterPath;

    @BeforeAll
    static void kernelAndModel() throws IOException, InterruptedException {
        repo = Path.of("").toAbsolutePath();
        while (!Files.exists(repo.resolve("data/prompts/sample.jsonl"))) {
            repo = repo.getParent();
            assertNotNull(repo, "repository root (with data/prompts/sample.jsonl) not found");
        }
        Path target = repo.resolve("notebooks/target");
        out = Files.createDirectories(target.resolve("notebooks"));
        String jupyter = jupyter();
        if (!"true".equals(System.getenv("CI"))) {
            Assumptions.assumeTrue(jupyter != null,
                    "jupyter nbconvert is not installed (apt-get install jupyter-nbconvert): notebooks not executed");
        }
        assertNotNull(jupyter, "jupyter nbconvert is not installed: .ci/run must apt-get install jupyter-nbconvert");
        jupyterPath = target.resolve("jupyter");
        System.out.println("kernelspec: " + KernelSpec.write(jupyterPath));
        model = model(target);
        System.out.println("model: " + model);
    }

    @Test
    void dataframeNotebook() throws Exception {
        JsonObject nb = execute("01-dataframe-generate.ipynb");
        assertPrinted(nb, "prompts: 12 in 2 partitions", "rows written: 12, rows with an error: 0");
    }

    @Test
    void sqlNotebook() throws Exception {
        JsonObject nb = execute("02-sql-ppsd-generate.ipynb");
        assertPrinted(nb, "prompt is null", "max_new_tokens must be >= 0 but was -3", "rows with an error: 2 (2 expected");
    }

    @Test
    void compareModesNotebook() throws Exception {
        JsonObject nb = execute("03-compare-modes.ipynb");
        assertPrinted(nb, "engines ready", "eesd: identical to ar on 4 of 4 prompts",
                "ppsd: identical to ar on 4 of 4 prompts");
    }

    @Test
    void guidedDecodingNotebook() throws Exception {
        JsonObject nb = execute("04-guided-decoding.ipynb");
        assertPrinted(nb, "labels outside the choices: 0 of 12", "rows whose text is not one of their own choices: 0",
                "complete rows that from_json cannot parse: 0", "guided_regex: unbalanced parenthesis '('",
                "guided_json: unsupported keyword 'minimum' at /", "rows with an error: 2 (2 expected)");
    }

    /** Runs the notebook through nbconvert and returns the executed notebook, checked for errors. */
    private static JsonObject execute(String name) throws IOException, InterruptedException {
        Path source = repo.resolve("notebooks").resolve(name);
        Path log = out.resolve(name.replace(".ipynb", ".log"));
        List<String> cmd = List.of(jupyter(), "nbconvert", "--to", "notebook", "--execute",
                "--ExecutePreprocessor.kernel_name=" + KernelSpec.NAME,
                "--ExecutePreprocessor.timeout=300",
                "--ExecutePreprocessor.startup_timeout=180",
                "--ExecutePreprocessor.record_timing=False",
                "--output-dir", out.toString(), source.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.put("JUPYTER_PATH", jupyterPath.toString());
        env.put("JUPYTER_RUNTIME_DIR", jupyterPath.resolve("runtime").toString());
        env.put("PPSD_MODEL", model.toString());
        long start = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(NOTEBOOK_TIMEOUT_S, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail(name + " did not finish in " + NOTEBOOK_TIMEOUT_S + " s; log " + log + ":\n" + tail(log));
        }
        System.out.printf("%s executed in %.1f s%n", name, (System.nanoTime() - start) / 1e9);
        assertEquals(0, p.exitValue(), () -> "jupyter nbconvert --execute " + name + " failed; log " + log + ":\n"
                + tail(log));

        Path executed = out.resolve(name);
        JsonObject nb = JsonParser.parseString(Files.readString(executed)).getAsJsonObject();
        int code = 0;
        for (JsonElement c : nb.getAsJsonArray("cells")) {
            JsonObject cell = c.getAsJsonObject();
            if (!"code".equals(cell.get("cell_type").getAsString())) {
                continue;
            }
            code++;
            String head = name + " cell " + code + " (" + firstLine(cell) + ")";
            assertTrue(cell.get("execution_count").isJsonPrimitive(), head + " was not executed");
            for (JsonElement o : cell.getAsJsonArray("outputs")) {
                JsonObject output = o.getAsJsonObject();
                String type = output.get("output_type").getAsString();
                assertTrue(!"error".equals(type), () -> head + " failed: " + output.get("ename") + ": "
                        + output.get("evalue"));
                assertTrue(!("stream".equals(type) && "stderr".equals(output.get("name").getAsString())),
                        () -> head + " wrote to stderr: " + text(output.get("text")));
            }
        }
        assertTrue(code > 0, name + " has no code cells");
        if (Boolean.getBoolean("ppsd.notebooks.update")) {
            Files.copy(executed, source, StandardCopyOption.REPLACE_EXISTING);
            System.out.println("updated " + source + " with its outputs (model " + model + ")");
        }
        return nb;
    }

    /** Asserts that each line appears in some stdout or result output of the notebook. */
    private static void assertPrinted(JsonObject nb, String... expected) {
        StringBuilder all = new StringBuilder();
        for (JsonElement c : nb.getAsJsonArray("cells")) {
            JsonObject cell = c.getAsJsonObject();
            if (cell.has("outputs")) {
                for (JsonElement o : cell.getAsJsonArray("outputs")) {
                    JsonObject output = o.getAsJsonObject();
                    if (output.has("text")) {
                        all.append(text(output.get("text")));
                    } else if (output.has("data") && output.getAsJsonObject("data").has("text/plain")) {
                        all.append(text(output.getAsJsonObject("data").get("text/plain"))).append('\n');
                    }
                }
            }
        }
        for (String e : expected) {
            assertTrue(all.indexOf(e) >= 0, () -> "expected output '" + e + "' not found in:\n" + all);
        }
    }

    private static String text(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "";
        }
        if (e.isJsonArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonElement x : (JsonArray) e) {
                sb.append(x.getAsString());
            }
            return sb.toString();
        }
        return e.getAsString();
    }

    private static String firstLine(JsonObject cell) {
        String src = text(cell.get("source")).strip();
        int nl = src.indexOf('\n');
        return nl < 0 ? src : src.substring(0, nl);
    }

    /** The model the notebooks run on (see the class comment). */
    private static Path model(Path target) throws IOException {
        String configured = System.getenv("PPSD_MODEL");
        configured = configured != null ? configured : System.getProperty("ppsd.model");
        if (configured != null) {
            return repo.resolve(configured).normalize();
        }
        Path bundled = repo.resolve("models/ppsd-mini");
        if (Files.exists(bundled.resolve("config.json"))) {
            return bundled;
        }
        Path tiny = target.resolve("tiny-model");
        if (!Files.exists(tiny.resolve("config.json"))) {
            TinyModels.write(Files.createDirectories(tiny), TinyModels.config(2, 512), 7);
        }
        System.out.println("models/ppsd-mini not found: running the notebooks on a tiny random model");
        return tiny;
    }

    /** The jupyter command ($PPSD_JUPYTER, else jupyter on the PATH), or null when nbconvert is missing. */
    private static String jupyter() {
        String configured = System.getenv("PPSD_JUPYTER");
        if (configured != null) {
            return configured;
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, "jupyter-nbconvert")) && Files.isExecutable(Path.of(dir, "jupyter"))) {
                return Path.of(dir, "jupyter").toString();
            }
        }
        return null;
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", new ArrayList<>(lines.subList(Math.max(0, lines.size() - 60), lines.size())));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
