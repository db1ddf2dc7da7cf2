package dev.ppsd.engine.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dev.ppsd.engine.EngineOptions;
import dev.ppsd.engine.bench.Benchmark;
import dev.ppsd.engine.bench.ControlledAcceptance;
import dev.ppsd.engine.bench.ModeRun;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.SamplingParams;
import dev.ppsd.engine.model.LlamaConfig;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code ppsd bench}: runs every mode on the same prompts in one process and prints tokens/s, α, speedup
 * vs {@code ar}, and for ppsd the bounds S_k and S_c and the efficiency; {@code --json} writes them as
 * {@code {"modes": {...}}}. {@code --alpha-sweep} repeats the comparison on controlled-acceptance copies of
 * the model (late layers scaled by each factor, shared exit head).
 */
final class BenchCommand {
    static final String USAGE = """
            usage: ppsd bench --model DIR --prompts FILE.jsonl [--modes ar,ar-pipe,eesd:1,eesd:3,eesd:ts,ppsd]
                     [--batch-size 1] [--limit 20] [--max-new-tokens 64] [--warmup 2] [--exit-layer E]
                     [--stages cpu,cpu] [--exit-head auto|shared|DIR] [--json OUT]
                     [--alpha-sweep 0,0.5,1,2 (scale factors of the layers after E; uses the shared head)]
            """;

    private BenchCommand() {
    }

    static void run(String[] argv, PrintStream out) throws IOException {
        Args a = new Args(argv, 1, Set.of());
        Path model = Path.of(a.required("model"));
        Path promptsFile = Path.of(a.required("prompts"));
        List<String> modes = Arrays.asList(a.string("modes", "ar,ar-pipe,eesd:1,eesd:3,eesd:ts,ppsd").split(","));
        int limit = a.integer("limit", 20);
        int warmup = a.integer("warmup", 2);
        String json = a.string("json", null);
        String sweep = a.string("alpha-sweep", null);
        SamplingParams params = SamplingParams.greedy(a.integer("max-new-tokens", 64));
        EngineOptions base = GenerateCommand.engineOptions(a, model).withBatchSize(a.integer("batch-size", 1));
        a.rejectUnknown();
        if (!modes.contains("ar")) {
            throw new IllegalArgumentException("--modes must include ar (the reference for speedup and outputs)");
        }
        List<GenerationRequest> requests = GenerateCommand.readPrompts(promptsFile, params);
        requests = requests.subList(0, Math.min(limit, requests.size()));
        JsonObject report = new JsonObject();
        if (sweep == null) {
            report.add("modes", compare(base, modes, requests, warmup, out));
        } else {
            LlamaConfig c = LlamaConfig.load(model);
            int e = base.exitLayer() == 0 ? c.numHiddenLayers() / 2 : base.exitLayer();
            JsonObject points = new JsonObject();
            Path tmp = Files.createTempDirectory("ppsd-alpha-sweep");
            for (String s : sweep.split(",")) {
                float scale = Float.parseFloat(s.trim());
                Path variant = ControlledAcceptance.write(model, tmp.resolve("scale-" + s.trim()), e, scale);
                out.printf(Locale.ROOT, "%n== late layers (>= %d) scaled by %s ==%n", e, s.trim());
                EngineOptions o = new EngineOptions(variant, base.mode(), base.batchSize(), e, base.stages(),
                        base.gamma(), "shared", base.speculation());
                points.add(s.trim(), compare(o, modes, requests, warmup, out));
            }
            report.add("alpha_sweep", points);
        }
        if (json != null) {
            Files.writeString(Path.of(json), new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
                    .create().toJson(report) + "\n");
            out.println("wrote " + json);
        }
    }

    private static JsonObject compare(EngineOptions base, List<String> modes, List<GenerationRequest> requests,
            int warmup, PrintStream out) {
        Map<String, ModeRun> runs = new LinkedHashMap<>();
        // JIT warm-up of every code path first, so the mode measured first is not penalised
        List<GenerationRequest> warm = requests.subList(0, Math.min(Math.max(warmup, 1), requests.size()));
        for (String m : modes) {
            Benchmark.run(base, m, warm, 0);
        }
        ModeRun ar = Benchmark.run(base, "ar", requests, warmup);
        runs.put("ar", ar);
        for (String m : modes) {
            if (!m.equals("ar")) {
                runs.put(m, Benchmark.run(base, m, requests, warmup));
            }
        }
        out.printf(Locale.ROOT, "%-10s %9s %7s %8s %7s %7s %6s %s%n", "mode", "tokens/s", "alpha", "speedup",
                "S_k", "S_c", "eff", "outputs=ar");
        JsonObject modesJson = new JsonObject();
        for (ModeRun r : runs.values()) {
            double speedup = r.tokensPerSecond() / ar.tokensPerSecond();
            boolean ppsd = r.mode().equals("ppsd");
            double sk = ppsd ? ModeRun.pipelineBound(r.stages(), r.acceptance()) : Double.NaN;
            double sc = ppsd ? r.costBound(ar.msPerToken()) : Double.NaN;
            double eff = ppsd ? speedup / sc : Double.NaN;
            boolean same = Benchmark.sameOutputs(r, ar);
            out.printf(Locale.ROOT, "%-10s %9.1f %7s %8.3f %7s %7s %6s %s%n", r.label(), r.tokensPerSecond(),
                    fmt(r.acceptance()), speedup, fmt(sk), fmt(sc), fmt(eff), same);
            if (ppsd && r.stageMsPerToken() != null) {
                out.printf(Locale.ROOT, "           stage ms/token %s, coordinator %.1f ms%n",
                        Arrays.toString(Arrays.stream(r.stageMsPerToken()).map(x -> Math.round(x * 1000) / 1000.0)
                                .toArray()), r.handoffMs());
            }
            JsonObject o = new JsonObject();
            o.addProperty("tokens_per_s", r.tokensPerSecond());
            num(o, "acceptance", r.acceptance());
            o.addProperty("speedup", speedup);
            num(o, "bound", sk);
            num(o, "bound_cost", sc);
            num(o, "efficiency", eff);
            o.addProperty("outputs_match_ar", same);
            o.addProperty("new_tokens", r.newTokens());
            o.addProperty("wall_ms", r.wallMs());
            modesJson.add(r.label(), o);
        }
        return modesJson;
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static void num(JsonObject o, String k, double v) {
        if (Double.isNaN(v)) {
            o.add(k, JsonNull.INSTANCE);
        } else {
            o.addProperty(k, v);
        }
    }
}
