package dev.ppsd.tools.bench;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.ppsd.engine.schedule.PipelineTrace;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The self-contained report of {@code ppsd bench --report DIR}: {@code DIR/report.md} with the command line,
 * the machine, one table per comparison and three PNG plots ({@link Plots}), and {@code DIR/bench.json}, the
 * {@code --json} object plus {@code command}, {@code machine} and the traced {@code timeline}.
 *
 * @param commandLine the {@code bin/ppsd bench ...} invocation, shell-quoted
 * @param setup       model and run settings
 * @param modes       mode labels in command-line order
 * @param main        the comparison at the main batch size on the unmodified model (null with a sweep)
 * @param alphaSweep  scale factor of the late layers to its comparison, in sweep order (empty without a sweep)
 * @param perBatch    one comparison per batch size on the unmodified model, in the order asked
 * @param timeline    the traced PPSD run, or null when no ppsd mode was benchmarked
 * @param results     the {@code --json} object
 */
public record BenchReport(String commandLine, Setup setup, List<String> modes, Comparison main,
        Map<String, Comparison> alphaSweep, List<Comparison> perBatch, PpsdTimeline timeline, JsonObject results) {

    /** Files written into the report folder. */
    public static final String REPORT = "report.md";
    public static final String JSON = "bench.json";
    public static final String SPEEDUP_PNG = "speedup_vs_alpha.png";
    public static final String THROUGHPUT_PNG = "tokens_per_s_vs_batch.png";
    public static final String TIMELINE_PNG = "ppsd_timeline.png";
    /** Decode cycles drawn in the timeline. */
    public static final int TIMELINE_CYCLES = 60;

    /**
     * @param model        model folder
     * @param layers       N, decoder layers
     * @param exitLayer    E, the drafter's exit layer of the speedup plot's runs
     * @param exitHead     the exit head those runs used (shared / trained)
     * @param stages       one device per pipeline stage
     * @param gamma        the EESD draft length of a bare {@code eesd} mode
     * @param prompts      prompts per run
     * @param maxNewTokens token budget per prompt
     * @param warmup       warm-up prompts per run
     */
    public record Setup(Path model, int layers, int exitLayer, String exitHead, List<String> stages, String gamma,
            int prompts, int maxNewTokens, int warmup) {
        /** c = E / N, the cost of a draft step relative to a full forward in EESD's cost model. */
        public double draftCost() {
            return (double) exitLayer / layers;
        }
    }

    /** Writes the plots, {@code report.md} and {@code bench.json} into {@code dir}; returns the report path. */
    public Path write(Path dir) throws IOException {
        Files.createDirectories(dir);
        int k = setup.stages().size();
        Plots.speedupVsAlpha(dir.resolve(SPEEDUP_PNG), points(), modes, k, setup.draftCost(), this::fixedGamma);
        Plots.throughputVsBatch(dir.resolve(THROUGHPUT_PNG), perBatch, modes);
        if (timeline != null) {
            Plots.timeline(dir.resolve(TIMELINE_PNG), timeline, TIMELINE_CYCLES);
        }
        JsonObject json = results.deepCopy();
        json.addProperty("command", commandLine);
        json.add("machine", machineJson());
        if (timeline != null) {
            json.add("timeline", timeline.toJson());
        }
        Files.writeString(dir.resolve(JSON), new GsonBuilder().setPrettyPrinting().serializeNulls()
                .serializeSpecialFloatingPointValues().create().toJson(json) + "\n", StandardCharsets.UTF_8);
        Path md = dir.resolve(REPORT);
        Files.writeString(md, markdown(), StandardCharsets.UTF_8);
        return md;
    }

    /** The draft length of a fixed-γ EESD mode label ({@code eesd:3}, or {@code eesd} with a numeric γ), else 0. */
    int fixedGamma(String label) {
        if (!label.startsWith("eesd")) {
            return 0;
        }
        String g = label.contains(":") ? label.substring(label.indexOf(':') + 1) : setup.gamma();
        return g.equals("ts") ? 0 : Integer.parseInt(g);
    }

    String markdown() {
        StringBuilder s = new StringBuilder();
        int k = setup.stages().size();
        s.append("# ppsd bench report\n\n");
        s.append("Generated ").append(Instant.now().truncatedTo(ChronoUnit.SECONDS)).append(" by\n\n```\n")
                .append(commandLine).append("\n```\n\n");
        s.append("| | |\n|---|---|\n");
        JsonObject m = machineJson();
        row(s, "machine", machine(m));
        row(s, "java", m.get("java").getAsString() + " (" + m.get("java_vm").getAsString() + "), max heap "
                + m.get("max_heap_mib").getAsLong() + " MiB");
        row(s, "model", "`" + setup.model() + "`, N = " + setup.layers() + " layers");
        row(s, "drafter", "exit layer E = " + setup.exitLayer() + ", " + setup.exitHead() + " exit head, c = E/N = "
                + f3(setup.draftCost()));
        row(s, "pipeline", "k = " + k + " stages on " + String.join(", ", setup.stages()));
        row(s, "workload", setup.prompts() + " prompts × " + setup.maxNewTokens() + " new tokens (greedy), "
                + setup.warmup() + " warm-up prompts per run");
        s.append('\n');

        s.append("## 1. Speedup vs acceptance α\n\n");
        s.append("![speedup vs alpha](").append(SPEEDUP_PNG).append(")\n\n");
        if (alphaSweep.isEmpty()) {
            s.append("One measured point per drafting mode (batch size ").append(main.batchSize())
                    .append("); run with `--alpha-sweep 0,0.5,1,2` to trace the whole curve.\n\n");
            table(s, main);
        } else {
            s.append("`--alpha-sweep`: each point is a controlled-acceptance copy of the model whose layers ≥ E have "
                    + "their residual output projections scaled by the factor (0 makes the final output equal the "
                    + "layer-E state: α = 1), drafted with the shared exit head at E = ").append(setup.exitLayer())
                    .append(". Batch size ").append(points().get(0).batchSize()).append(".\n\n");
            for (Map.Entry<String, Comparison> e : alphaSweep.entrySet()) {
                s.append("### late layers scaled by ").append(e.getKey()).append("\n\n");
                table(s, e.getValue());
            }
        }

        s.append("## 2. Tokens/s per mode and batch size\n\n");
        s.append("![tokens/s per mode and batch size](").append(THROUGHPUT_PNG).append(")\n\n");
        s.append("`ar` decodes the batch together, `ar-pipe` and `ppsd` carry up to B sequences through the pipeline "
                + "(one entry per sequence per stage and cycle); `eesd` decodes one sequence at a time, so it is "
                + "measured once and the same run is shown at every batch size.\n\n");
        for (Comparison c : perBatch) {
            s.append("### batch size ").append(c.batchSize()).append("\n\n");
            table(s, c);
        }

        s.append("## 3. PPSD timeline\n\n");
        if (timeline == null) {
            s.append("No ppsd mode was benchmarked, so no pipeline was traced.\n\n");
        } else {
            timelineSection(s);
        }

        s.append("## How to read this report\n\n");
        s.append("`speedup` is a mode's tokens/s over `ar`'s on the same prompts in the same process. For PPSD, "
                + "`bound` is S_k = k/(α + k(1−α)) (every accepted draft commits a token per cycle, every rejection "
                + "costs k cycles), and `bound_cost` S_c replaces the ideal cycle by the measured slowest stage "
                + "(stage 1 also runs the exit head) and the ar time per token; `efficiency` = speedup / S_c shows "
                + "how much hand-offs and coordination lose. `ttft_ms` and `tpot_ms` are the mean time of a sequence "
                + "to its first token (its prefill included) and per output token after it. In plot 1 the red PPSD "
                + "markers should sit under the red bound curve and near or above ar's 1.0 at every α, while each "
                + "fixed-γ EESD marker follows its dotted cost-model curve, which falls below 1.0 at low α. Plot 2 "
                + "shows whether speculation still pays once batching fills the pipeline: on a compute-bound CPU a "
                + "stage's cost grows with the batch, so `ar-pipe` and `ar` catch up with `ppsd` as B grows. In plot "
                + "3 each bar is one stage busy on its block, a thin grey line marks the start of each cycle, gaps in "
                + "a row are bubbles (a flush restarts the pipeline at stage 1, so the later stages idle for k−1 "
                + "cycles), and the coordinator row is the verify and bookkeeping time between cycles. "
                + "`outputs_match_ar` must be true for every mode: greedy speculative decoding is lossless. Timings "
                + "on a machine busy with other work are noisy; compare modes within one report.\n");
        return s.toString();
    }

    private List<Comparison> points() {
        return alphaSweep.isEmpty() ? List.of(main) : List.copyOf(alphaSweep.values());
    }

    private void timelineSection(StringBuilder s) {
        PpsdTimeline t = timeline;
        int k = t.stages();
        int first = t.firstDecodeCycle();
        List<PipelineTrace.Cycle> cs = t.cycles().subList(first, Math.min(t.cycles().size(), first + TIMELINE_CYCLES));
        s.append("![ppsd per-stage timeline](").append(TIMELINE_PNG).append(")\n\n");
        s.append("`").append(t.label()).append("` once more on the first prompt (").append(t.promptTokens())
                .append(" prompt tokens, ").append(t.result().newTokens()).append(" new tokens) at batch size 1 with "
                        + "the pipeline trace on; ").append(t.cycles().size()).append(" cycles recorded");
        if (first > 0) {
            s.append(", the first ").append(first).append(" (the prompt's prefill passing through the stages) left "
                    + "out of the plot");
        }
        s.append(". The chart is an XChart XY chart: each busy interval is a two-point line with a thick stroke.\n\n");
        if (cs.isEmpty()) {
            return;
        }
        double span = cs.get(cs.size() - 1).endMs() - cs.get(0).startMs();
        double[] busy = new double[k];
        double coordinator = 0;
        int drafted = 0;
        int accepted = 0;
        int flushed = 0;
        for (int i = 0; i < cs.size(); i++) {
            PipelineTrace.Cycle c = cs.get(i);
            for (int b = 0; b < k; b++) {
                if (c.entries()[b] > 0 && !Double.isNaN(c.stageStartMs()[b])) {
                    busy[b] += c.stageEndMs()[b] - c.stageStartMs()[b];
                }
            }
            if (i + 1 < cs.size()) {
                coordinator += cs.get(i + 1).startMs() - c.endMs();
            }
            drafted += c.drafted();
            accepted += c.accepted();
            flushed += c.flushed();
        }
        s.append("| cycles shown | span ms | ms / cycle |");
        for (int b = 0; b < k; b++) {
            s.append(" stage ").append(b + 1).append(" busy |");
        }
        s.append(" coordinator | drafts | accepted | flushes |\n|");
        s.append("---|".repeat(7 + k)).append('\n');
        s.append("| ").append(cs.size()).append(" | ").append(f1(span)).append(" | ").append(f3(span / cs.size()))
                .append(" |");
        for (int b = 0; b < k; b++) {
            s.append(' ').append(pct(busy[b] / span)).append(" |");
        }
        s.append(' ').append(pct(coordinator / span)).append(" | ").append(drafted).append(" | ").append(accepted)
                .append(" | ").append(flushed).append(" |\n\n");
    }

    private void table(StringBuilder s, Comparison c) {
        s.append("| mode | tokens_per_s | acceptance | speedup | bound | bound_cost | efficiency | outputs_match_ar |"
                + " new_tokens | wall_ms | ttft_ms | tpot_ms |\n");
        s.append("|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|\n");
        for (Comparison.Row r : c.rows()) {
            s.append("| `").append(r.label()).append("` | ").append(f1(r.tokensPerSecond())).append(" | ")
                    .append(f3(r.acceptance())).append(" | ").append(f3(r.speedup())).append(" | ")
                    .append(f3(r.bound())).append(" | ").append(f3(r.boundCost())).append(" | ")
                    .append(f3(r.efficiency())).append(" | ").append(r.outputsMatchAr()).append(" | ")
                    .append(r.newTokens()).append(" | ").append(f1(r.wallMs())).append(" | ")
                    .append(f3(r.run().ttftMs())).append(" | ").append(f3(r.run().tpotMs())).append(" |\n");
        }
        s.append('\n');
        for (Comparison.Row r : c.rows()) {
            double[] st = r.run().stageMsPerToken();
            if (st != null) {
                s.append("- `").append(r.label()).append("` stage ms per token ").append(Arrays.toString(
                        Arrays.stream(st).mapToObj(BenchReport::f3).toArray())).append(", coordinator ")
                        .append(f1(r.run().coordinatorMs())).append(" ms in all\n");
            }
        }
        if (c.rows().stream().anyMatch(r -> r.run().stageMsPerToken() != null)) {
            s.append('\n');
        }
    }

    private static void row(StringBuilder s, String k, String v) {
        s.append("| ").append(k).append(" | ").append(v).append(" |\n");
    }

    /**
     * The report's line for {@link #machineJson} {@code m}: cores, CPU model (from /proc/cpuinfo where there is
     * one), OS and the C allocator ({@link #malloc}).
     */
    static String machine(JsonObject m) {
        return m.get("cores").getAsInt() + " cores" + (m.has("cpu") ? " (" + m.get("cpu").getAsString() + ")" : "")
                + ", " + m.get("os").getAsString()
                + (m.has("malloc") ? ", malloc " + m.get("malloc").getAsString() : "");
    }

    /**
     * The C allocator this process runs with, by the libraries mapped into it (/proc/self/maps): {@code jemalloc},
     * {@code tcmalloc} or {@code mimalloc} when one is (bin/ppsd preloads jemalloc where the system has it), else
     * {@code system}; null where there is no /proc (not Linux). jemalloc made the bundled model's {@code ar} 1.10x as
     * fast (docs/benchmarks.md, "jemalloc").
     */
    static String malloc() {
        List<String> maps;
        try {
            maps = Files.readAllLines(Path.of("/proc/self/maps"));
        } catch (IOException | RuntimeException e) {
            return null;
        }
        for (String name : List.of("jemalloc", "tcmalloc", "mimalloc")) {
            if (maps.stream().anyMatch(l -> l.contains("/lib" + name))) {
                return name;
            }
        }
        return "system";
    }

    /**
     * The machine: cores, CPU model, OS, C allocator, Java version and heap; {@code machine} in {@code --json} and
     * bench.json, and the report's first rows.
     */
    public static JsonObject machineJson() {
        JsonObject m = new JsonObject();
        m.addProperty("cores", Runtime.getRuntime().availableProcessors());
        String cpu = cpuModel();
        if (cpu != null) {
            m.addProperty("cpu", cpu);
        }
        m.addProperty("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch"));
        String malloc = malloc();
        if (malloc != null) {
            m.addProperty("malloc", malloc);
        }
        m.addProperty("java", System.getProperty("java.version"));
        m.addProperty("java_vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        m.addProperty("max_heap_mib", Runtime.getRuntime().maxMemory() / (1 << 20));
        return m;
    }

    private static String cpuModel() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (l.startsWith("model name")) {
                    return l.substring(l.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: the core count alone
        }
        return null;
    }

    /** Quotes {@code argv} for a POSIX shell: {@code bin/ppsd bench --model 'my models/x' ...}. */
    public static String commandLine(String[] argv) {
        List<String> parts = new ArrayList<>(List.of("bin/ppsd"));
        for (String a : argv) {
            parts.add(a.matches("[A-Za-z0-9_./:=,@%+-]+") ? a : "'" + a.replace("'", "'\\''") + "'");
        }
        return String.join(" ", parts);
    }

    private static String f1(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String f3(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.0f%%", 100 * v);
    }
}
