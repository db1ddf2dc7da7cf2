package dev.ppsd.tools.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.SettingOptions;
import dev.ppsd.engine.settings.Settings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code ppsd generate}: completes one {@code --prompt} or every line of a {@code --prompts} JSONL file and prints
 * one JSON object per prompt. Every setting of the engine's table is an option ({@code --max-new-tokens},
 * {@code --mode}, ...).
 */
@Command(name = "generate", synopsisHeading = "usage: ", sortOptions = false,
        description = "complete prompts with a model; prints one JSON object per prompt")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "the prompt")
    private String prompt;

    @Option(names = "--prompts", paramLabel = "FILE.jsonl",
            description = "one {\"prompt\": ..., \"id\"?: ...} or {\"messages\": [{\"role\": ..., \"content\": ...}],"
                    + " \"id\"?: ...} per line (messages go through the model's chat template); line i uses seed + i")
    private Path prompts;

    @Override
    public Integer call() throws IOException {
        ParseResult parsed = spec.commandLine().getParseResult();
        EngineOptions opts = engineOptions(parsed);
        SamplingParams base = samplingParams(parsed);
        if ((prompt == null) == (prompts == null)) {
            throw new IllegalArgumentException("give exactly one of --prompt TEXT or --prompts FILE");
        }
        List<GenerationRequest> requests = new ArrayList<>();
        if (prompt != null) {
            requests.add(new GenerationRequest("0", prompt, base));
        } else {
            requests.addAll(readPrompts(prompts, base));
        }
        opts.modelDir(); // "model is not set" before anything loads
        // serializeNulls: "acceptance" is null (not absent) when nothing was drafted, as documented
        Gson gson = new GsonBuilder().disableHtmlEscaping().serializeNulls().serializeSpecialFloatingPointValues()
                .create();
        PrintWriter out = spec.commandLine().getOut();
        try (GenerationEngine engine = GenerationEngine.open(opts)) {
            for (GenerationResult r : engine.generate(requests)) {
                out.println(gson.toJson(ResultJson.of(r)));
            }
        }
        out.flush();
        return 0;
    }

    /** The engine settings given on the command line (the rest at their defaults). */
    static EngineOptions engineOptions(ParseResult parsed) {
        return EngineOptions.defaults().withAll(Settings.all(), s -> SettingOptions.given(parsed, s));
    }

    /** The request settings given on the command line (the rest at their defaults). */
    static SamplingParams samplingParams(ParseResult parsed) {
        return SamplingParams.defaults().withAll(Settings.all(), s -> SettingOptions.given(parsed, s));
    }

    /**
     * Reads {@code {"prompt": ...}} lines (optional "id"); line i gets seed {@code base seed + i}. A bad line is
     * reported as FILE:LINE, a file that is not UTF-8 text or not a file by name.
     */
    static List<GenerationRequest> readPrompts(Path file, SamplingParams base) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(file + ": is a folder, not a prompts file");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": prompts file not found");
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + ":" + firstBadLine(file) + ": not UTF-8 text");
        }
        List<GenerationRequest> out = new ArrayList<>();
        long seed = base.get(Settings.SEED);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (line.isEmpty()) {
                continue;
            }
            JsonObject o;
            try {
                o = JsonParser.parseString(line).getAsJsonObject();
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": not a JSON object");
            }
            String where = file + ":" + (i + 1) + ": ";
            JsonElement p = o.get("prompt");
            JsonElement m = o.get("messages");
            if ((p == null) == (m == null)) {
                throw new IllegalArgumentException(where + "give a string field \"prompt\" or an array \"messages\""
                        + " of {\"role\", \"content\"}");
            }
            String id = o.has("id") ? o.get("id").getAsString() : String.valueOf(out.size());
            SamplingParams params = base.with(Settings.SEED, seed + out.size());
            if (p != null) {
                if (!p.isJsonPrimitive()) {
                    throw new IllegalArgumentException(where + "\"prompt\" must be a string");
                }
                out.add(new GenerationRequest(id, p.getAsString(), params));
            } else {
                out.add(GenerationRequest.chat(id, messages(m, where), params));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts in file");
        }
        return out;
    }

    /** {@code [{"role": ..., "content": ...}, ...]}; a bad entry is named by its index. */
    private static List<ChatMessage> messages(JsonElement m, String where) {
        if (!m.isJsonArray()) {
            throw new IllegalArgumentException(where + "\"messages\" must be an array of {\"role\", \"content\"}");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int j = 0; j < m.getAsJsonArray().size(); j++) {
            JsonElement e = m.getAsJsonArray().get(j);
            JsonObject o = e.isJsonObject() ? e.getAsJsonObject() : null;
            if (o == null || !isString(o.get("role")) || !isString(o.get("content"))) {
                throw new IllegalArgumentException(where + "messages[" + j + "] must be {\"role\": string,"
                        + " \"content\": string}");
            }
            out.add(new ChatMessage(o.get("role").getAsString(), o.get("content").getAsString()));
        }
        return out;
    }

    private static boolean isString(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString();
    }

    /** The 1-based number of the first line of {@code file} that is not valid UTF-8. */
    private static int firstBadLine(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        var decoder = StandardCharsets.UTF_8.newDecoder();
        int line = 1;
        int start = 0;
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == '\n') {
                try {
                    decoder.decode(java.nio.ByteBuffer.wrap(bytes, start, i - start));
                } catch (CharacterCodingException e) {
                    return line;
                }
                line++;
                start = i + 1;
            }
        }
        return line;
    }
}
