package dev.ppsd.tools.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.GenerationEngine;
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
            description = "one {\"prompt\": ..., \"id\"?: ...} per line; line i uses seed + i")
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
            JsonElement p = o.get("prompt");
            if (p == null || !p.isJsonPrimitive()) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": missing string field \"prompt\"");
            }
            String id = o.has("id") ? o.get("id").getAsString() : String.valueOf(out.size());
            out.add(new GenerationRequest(id, p.getAsString(), base.with(Settings.SEED, seed + out.size())));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts in file");
        }
        return out;
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
