package dev.ppsd.tools.cli;

import dev.ppsd.engine.settings.Settings;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code ppsd generate}: completes one {@code --prompt} or every line of a {@code --prompts} JSONL file and
 * prints one JSON object per prompt.
 */
final class GenerateCommand {
    static final String USAGE = """
            usage: ppsd generate --model DIR (--prompt TEXT | --prompts FILE.jsonl) [options]
              --max-new-tokens N   tokens to generate (default 64)
              --temperature T      0 = greedy (default 0)
              --top-k K            0 = off (default 0)
              --top-p P            in (0, 1], 1 = off (default 1)
              --seed S             random seed (default 0); with --prompts, line i uses seed S + i
              --stop STR           stop string (repeatable)
              --mode M             ar | ar-pipe | eesd | ppsd (default ar)
              --batch-size B       sequences decoded together (default 8)
              --exit-layer E       exit layer of the drafter (default: the trained head's, else N/2)
              --stages D,D         one device per pipeline stage: cpu or gpuN (default cpu,cpu)
              --gamma G|ts         EESD draft length, or ts for Thompson sampling (default ts)
              --exit-head H        auto | shared | DIR (default auto: ppsd/ar-pipe take the cheapest drafter by cost model
                                   and MODEL/eval.json; eesd takes MODEL/exit_head if present, else shared)
              --speculation S      ppsd: auto (default: greedy sequences draft only while that measures faster than pipelined or batched AR) | always
            """;

    private GenerateCommand() {
    }

    static void run(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of());
        Path model = Path.of(a.required("model"));
        String prompt = a.string("prompt", null);
        String prompts = a.string("prompts", null);
        SamplingParams base = SamplingParams.greedy(a.integer("max-new-tokens", SamplingParams.DEFAULT_MAX_NEW_TOKENS)).withValue(Settings.TEMPERATURE, a.number("temperature", 0f)).withValue(Settings.TOP_K, a.integer("top-k", 0)).withValue(Settings.TOP_P, a.number("top-p", 1f)).withValue(Settings.SEED, a.longValue("seed", 0L)).withValue(Settings.STOP, a.all("stop"));
        EngineOptions opts = engineOptions(a, model);
        a.rejectUnknown();
        if ((prompt == null) == (prompts == null)) {
            throw new IllegalArgumentException("give exactly one of --prompt TEXT or --prompts FILE");
        }
        List<GenerationRequest> requests = new ArrayList<>();
        if (prompt != null) {
            requests.add(new GenerationRequest("0", prompt, base));
        } else {
            requests.addAll(readPrompts(Path.of(prompts), base));
        }
        // serializeNulls: "acceptance" is null (not absent) when nothing was drafted, as documented
        Gson gson = new GsonBuilder().disableHtmlEscaping().serializeNulls().serializeSpecialFloatingPointValues()
                .create();
        try (GenerationEngine engine = GenerationEngine.open(opts)) {
            for (GenerationResult r : engine.generate(requests)) {
                out.println(gson.toJson(ResultJson.of(r)));
            }
        }
    }

    /** The engine options shared by generate and bench. */
    static EngineOptions engineOptions(Args a, Path model) {
        return EngineOptions.of(model)
                .with(Settings.MODE, a.string("mode", EngineOptions.DEFAULT_MODE))
                .with(Settings.BATCH_SIZE, a.integer("batch-size", EngineOptions.DEFAULT_BATCH_SIZE))
                .with(Settings.EXIT_LAYER, a.integer("exit-layer", 0))
                .with(Settings.STAGES, String.join(",", java.util.Arrays.asList(a.string("stages", String.join(",",
                        EngineOptions.DEFAULT_STAGES)).split(","))))
                .with(Settings.GAMMA, a.string("gamma", EngineOptions.DEFAULT_GAMMA))
                .with(Settings.EXIT_HEAD, a.string("exit-head", EngineOptions.DEFAULT_EXIT_HEAD))
                .with(Settings.SPECULATION, a.string("speculation", EngineOptions.DEFAULT_SPECULATION));
    }

    /** Reads {@code {"prompt": ...}} lines (optional "id"); a bad line is reported as FILE:LINE. */
    static List<GenerationRequest> readPrompts(Path file, SamplingParams base) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": prompts file not found");
        }
        List<GenerationRequest> out = new ArrayList<>();
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
            out.add(new GenerationRequest(id, p.getAsString(), base.withValue(Settings.SEED, base.seed() + out.size())));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts in file");
        }
        return out;
    }
}
