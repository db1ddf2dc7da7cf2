package dev.ppsd.tools.cli;

import dev.ppsd.engine.settings.Settings;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.tools.bench.BenchReport;
import dev.ppsd.tools.bench.Benchmark;
import dev.ppsd.tools.bench.Comparison;
import dev.ppsd.tools.bench.ControlledAcceptance;
import dev.ppsd.tools.bench.ModeRun;
import dev.ppsd.tools.bench.PpsdTimeline;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.schedule.DrafterPlan;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code ppsd bench}: runs every mode on the same prompts in one process and prints tokens/s, α, speedup
 * vs {@code ar}, and for ppsd and spd the bounds S_k and S_c and the efficiency; {@code --json} writes them as
 * {@code {"modes": {...}}}. {@code --alpha-sweep} repeats the comparison on controlled-acceptance copies of
 * the model (late layers scaled by each factor, shared exit head) and writes {@code {"alpha_sweep": {...}}};
 * {@code --batch-sizes} repeats it on the model at each batch size ({@code {"batch_sizes": {...}}} when there
 * are several). {@code --report DIR} also traces one PPSD run and writes {@code DIR/report.md} with PNG plots
 * and {@code DIR/bench.json} ({@link BenchReport}).
 */
@Command(name = "bench", synopsisHeading = "usage: ", sortOptions = false,
        description = "compare decoding modes on a prompt set (every mode in one process, on the same weights)")
final class BenchCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    /** Cycles the report's traced PPSD run records (the plot draws the first decode cycles of them). */
    private static final int TRACE_CYCLES = 200;

    @Spec
    private CommandSpec spec;

    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl", description = "prompts, one JSON per line")
    private Path promptsFile;

    @Option(names = "--modes", paramLabel = "M,M", description = "modes to compare; eesd:G fixes gamma, ppsd:always"
            + " (spd:always) drafts every cycle (default ${DEFAULT-VALUE})", defaultValue = "ar,ar-pipe,eesd:1,eesd:3,eesd:ts,ppsd")
    private String modesSpec;

    @Option(names = "--batch-sizes", paramLabel = "B,B", description = "repeat the comparison per batch size (eesd is"
            + " measured once); without --batch-size the first one is the main comparison")
    private String batchSizesSpec;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "20", description = "prompts used (default ${DEFAULT-VALUE})")
    private int limit;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "2",
            description = "warm-up requests per mode (default ${DEFAULT-VALUE})")
    private int warmup;

    @Option(names = "--repeat", paramLabel = "R", defaultValue = "1", description = "R interleaved rounds of all"
            + " modes, each mode reports its median run and prints every round's tokens/s (default ${DEFAULT-VALUE})")
    private int repeat;


    @Option(names = "--json", paramLabel = "OUT", description = "write the figures as JSON")
    private String json;

    @Option(names = "--alpha-sweep", paramLabel = "S,S", description = "scale factors of the layers after E"
            + " (controlled-acceptance copies of the model; shared head)")
    private String sweep;

    @Option(names = "--report", paramLabel = "DIR", description = "report.md + PNG plots + bench.json, and a traced"
            + " ppsd timeline")
    private String report;

    @Override
    public Integer call() throws IOException {
        ParseResult parsed = spec.commandLine().getParseResult();
        String[] argv = parsed.originalArgs().toArray(new String[0]);
        PrintStream out = CliOutput.of(spec);
        // each mode once, in the order given (a mode named twice would be measured and plotted twice)
        List<String> modes = List.copyOf(new LinkedHashSet<>(Arrays.asList(modesSpec.split(","))));
        if (repeat < 1) {
            throw new IllegalArgumentException("--repeat must be >= 1 but was " + repeat);
        }
        SamplingParams params = GenerateCommand.samplingParams(parsed);
        // the main comparison runs at --batch-size, by default the first of --batch-sizes, else 1
        List<Integer> batchSizes = batchSizes(batchSizesSpec);
        EngineOptions given = GenerateCommand.engineOptions(parsed);
        boolean explicitBatch = parsed.hasMatchedOption(Settings.BATCH_SIZE.flag());
        int mainBatch = explicitBatch ? given.get(Settings.BATCH_SIZE) : batchSizes == null ? 1 : batchSizes.get(0);
        if (batchSizes == null) {
            batchSizes = List.of(mainBatch);
        }
        EngineOptions base = given.with(Settings.BATCH_SIZE, mainBatch);
        Path model = base.modelDir();
        if (!modes.contains("ar")) {
            throw new IllegalArgumentException("--modes must include ar (the reference for speedup and outputs)");
        }
        List<GenerationRequest> requests = GenerateCommand.readPrompts(promptsFile, params);
        requests = requests.subList(0, Math.min(limit, requests.size()));
        JsonObject results = new JsonObject();
        // eesd decodes one sequence at a time: on the unmodified model it is measured once for all batch sizes
        Map<String, ModeRun> sequential = new HashMap<>();
        Comparison main = null;
        Map<String, Comparison> sweepPoints = new LinkedHashMap<>();
        int exitLayer = 0;
        if (sweep == null) {
            main = compare(base, modes, requests, new Rounds(warmup, repeat), out, sequential);
            results.add("modes", main.toJson());
        } else {
            LlamaConfig c = LlamaConfig.load(model);
            int e = base.get(Settings.EXIT_LAYER);
            exitLayer = e == 0 ? c.numHiddenLayers() / 2 : e;
            JsonObject points = new JsonObject();
            Path tmp = Files.createTempDirectory("ppsd-alpha-sweep");
            for (String s : sweep.split(",")) {
                float scale = Float.parseFloat(s.trim());
                Path variant = ControlledAcceptance.write(model, tmp.resolve("scale-" + s.trim()), exitLayer, scale);
                out.printf(Locale.ROOT, "%n== late layers (>= %d) scaled by %s ==%n", exitLayer, s.trim());
                EngineOptions o = base.with(Settings.MODEL, variant.toString()).with(Settings.EXIT_LAYER, exitLayer)
                        .with(Settings.EXIT_HEAD, "shared");
                Comparison point = compare(o, modes, requests, new Rounds(warmup, repeat), out, null);
                sweepPoints.put(s.trim(), point);
                points.add(s.trim(), point.toJson());
            }
            results.add("alpha_sweep", points);
        }
        List<Comparison> perBatch = new ArrayList<>();
        if (batchSizes.size() > 1 || report != null) {
            JsonObject byBatch = new JsonObject();
            for (int b : batchSizes) {
                Comparison c;
                if (main != null && b == mainBatch) {
                    c = main;
                } else {
                    out.printf(Locale.ROOT, "%n== batch size %d ==%n", b);
                    c = compare(base.with(Settings.BATCH_SIZE, b), modes, requests, new Rounds(warmup, repeat), out, sequential);
                }
                perBatch.add(c);
                byBatch.add(String.valueOf(b), c.toJson());
            }
            if (batchSizes.size() > 1) {
                results.add("batch_sizes", byBatch);
            }
        }
        if (json != null) {
            results.add("machine", BenchReport.machineJson()); // which allocator ran moves the figures by ~10%
            Files.writeString(Path.of(json), new GsonBuilder().setPrettyPrinting().serializeNulls().serializeSpecialFloatingPointValues()
                    .create().toJson(results) + "\n");
            out.println("wrote " + json);
        }
        if (report != null) {
            String ppsd = modes.stream().filter(m -> m.equals("ppsd") || m.startsWith("ppsd:")).findFirst()
                    .orElse(null);
            PpsdTimeline timeline = null;
            if (ppsd != null) {
                out.printf(Locale.ROOT, "%n== %s timeline: first prompt, batch size 1, trace on ==%n", ppsd);
                timeline = PpsdTimeline.record(base, ppsd, requests.get(0), TRACE_CYCLES);
                out.printf(Locale.ROOT, "%d cycles recorded, acceptance %s%n", timeline.cycles().size(),
                        fmt(timeline.acceptance()));
            }
            BenchReport.Setup setup = setup(base, exitLayer, requests.size(), params.get(Settings.MAX_NEW_TOKENS),
                    warmup);
            Path md = new BenchReport(BenchReport.commandLine(argv), setup, modes, main, sweepPoints, perBatch,
                    timeline, results).write(Path.of(report));
            out.println("wrote " + md);
        }
        out.flush();
        return 0;
    }

    /** Parses {@code --batch-sizes 1,8,32} (order kept, duplicates dropped); null when not given. */
    static List<Integer> batchSizes(String spec) {
        if (spec == null) {
            return null;
        }
        Set<Integer> sizes = new LinkedHashSet<>();
        for (String s : spec.split(",")) {
            try {
                int b = Integer.parseInt(s.trim());
                if (b < 1) {
                    throw new NumberFormatException();
                }
                sizes.add(b);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--batch-sizes must be positive integers separated by commas, "
                        + "e.g. 1,8,32, but was '" + spec + "'");
            }
        }
        return List.copyOf(sizes);
    }

    /**
     * What the report states about the model: N, the exit layer E and head of the speedup plot's runs (the
     * sweep's shared head at {@code sweepExitLayer}, else what the options resolve to).
     */
    private static BenchReport.Setup setup(EngineOptions base, int sweepExitLayer, int prompts, int maxNewTokens,
            int warmup) {
        int e;
        String head;
        try (LlamaModel m = LlamaModel.load(base.modelDir())) {
            if (sweepExitLayer > 0) {
                e = sweepExitLayer;
                head = "shared";
            } else {
                ExitHead h = DrafterPlan.defaultHead(m, base);
                e = h.exitLayer();
                head = h.trained() ? "trained" : "shared";
            }
            return new BenchReport.Setup(base.modelDir(), m.config().numHiddenLayers(), e, head,
                    base.stageDevices(List.of()), base.get(Settings.GAMMA), prompts, maxNewTokens, warmup);
        }
    }

    /**
     * Measures every mode (ar first) at {@code base}'s batch size and prints the table. With {@code repeat > 1}
     * the modes run in {@code repeat} interleaved rounds and each mode keeps its median run (by tokens/s), so
     * a slow spell of the machine does not land on one mode only. EESD runs found in {@code sequential} are
     * reused (and new ones stored), since EESD ignores the batch size; null: measure all.
     */
    private static Comparison compare(EngineOptions base, List<String> modes, List<GenerationRequest> requests,
            Rounds rounds, PrintStream out, Map<String, ModeRun> sequential) {
        int warmup = rounds.warmup();
        // one load of the weights for every mode (in the dtype asked for), so that every mode reads the very same
        // memory
        List<ModeRun> runs = new ArrayList<>();
        Map<String, List<ModeRun>> measured = new LinkedHashMap<>();
        try (LlamaModel model = GenerationEngine.loadModel(base)) {
            out.printf(Locale.ROOT, "weights: %s on %s%n",
                    model.dataType().name().toLowerCase(Locale.ROOT), model.device());
            // JIT warm-up of every code path first, so the mode measured first is not penalised
            List<GenerationRequest> warm = requests.subList(0, Math.min(Math.max(warmup, 1), requests.size()));
            for (String m : modes) {
                if (!reused(sequential, base, m)) {
                    Benchmark.run(base, m, warm, 0, model);
                }
            }
            List<String> order = new ArrayList<>();
            order.add("ar");
            modes.stream().filter(m -> !m.equals("ar")).forEach(order::add);
            for (int round = 0; round < rounds.repeat(); round++) {
                for (String m : order) {
                    if (reused(sequential, base, m)) {
                        continue;
                    }
                    measured.computeIfAbsent(m, x -> new ArrayList<>()).add(Benchmark.run(base, m, requests, warmup,
                            model));
                }
            }
            for (String m : order) {
                if (reused(sequential, base, m)) {
                    runs.add(sequential.get(m));
                    continue;
                }
                ModeRun r = median(measured.get(m));
                if (sequential != null && r.mode().equals("eesd")) {
                    sequential.put(m, r);
                }
                runs.add(r);
            }
        }
        ModeRun ar = runs.get(0);
        Comparison c = Comparison.of(base.get(Settings.BATCH_SIZE), ar, runs);
        out.printf(Locale.ROOT, "%-10s %9s %7s %8s %7s %7s %6s %8s %8s %s%n", "mode", "tokens/s", "alpha", "speedup",
                "S_k", "S_c", "eff", "ttft_ms", "tpot_ms", "outputs=ar");
        for (Comparison.Row r : c.rows()) {
            out.printf(Locale.ROOT, "%-10s %9.1f %7s %8.3f %7s %7s %6s %8s %8s %s%n", r.label(), r.tokensPerSecond(),
                    fmt(r.acceptance()), r.speedup(), fmt(r.bound()), fmt(r.boundCost()), fmt(r.efficiency()),
                    ms(r.run().ttftMs()), ms(r.run().tpotMs()), r.outputsMatchAr());
            if (Benchmark.isPipelineDrafting(r.mode()) && r.run().stageMsPerToken() != null) {
                out.printf(Locale.ROOT, "           stage ms/token %s, coordinator %.1f ms%n",
                        Arrays.toString(Arrays.stream(r.run().stageMsPerToken()).map(x -> Math.round(x * 1000) / 1000.0)
                                .toArray()), r.run().coordinatorMs());
                for (String line : r.run().plan().split("\n")) {
                    out.printf(Locale.ROOT, "           %s%n", line);
                }
            }
        }
        if (rounds.repeat() > 1) {
            // each round's figure, in the order run: a ratio of two modes is only as good as its round-to-round spread
            out.print("tokens/s by round:");
            measured.forEach((m, rs) -> out.print(" " + m + " " + rs.stream()
                    .map(r -> String.format(Locale.ROOT, "%.1f", r.tokensPerSecond())).collect(Collectors.joining(", "))
                    + ";"));
            out.println();
        }
        return c;
    }

    /** How each comparison measures: warm-up requests, interleaved rounds. */
    private record Rounds(int warmup, int repeat) {
    }

    /** The run with the median tokens/s (the lower middle one for an even count). */
    static ModeRun median(List<ModeRun> runs) {
        List<ModeRun> sorted = new ArrayList<>(runs);
        sorted.sort(java.util.Comparator.comparingDouble(ModeRun::tokensPerSecond));
        return sorted.get((sorted.size() - 1) / 2);
    }

    private static boolean reused(Map<String, ModeRun> sequential, EngineOptions base, String mode) {
        return sequential != null && sequential.containsKey(mode)
                && Benchmark.optionsFor(base, mode).get(Settings.MODE).equals("eesd");
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String ms(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v);
    }
}
