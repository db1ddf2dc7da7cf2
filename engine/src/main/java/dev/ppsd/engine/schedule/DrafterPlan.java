package dev.ppsd.engine.schedule;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The drafter (exit head and exit layer) and the stage split of a k-stage pipeline, chosen so that the
 * pipeline is fastest by the {@link StageCostModel}: per committed token PPSD pays its most expensive stage
 * (the drafter counts in stage 0) {@code α + k(1-α)} times. With {@code --exit-head auto} and an
 * {@code eval.json} in the model folder (written by {@code ppsd eval}: acceptance per exit layer of the shared
 * head and of each trained head), every candidate is scored — each trained head in an {@code exit_head*} folder
 * and the shared head at every exit layer — and the cheapest wins; a cheap shared head with balanced
 * stages can beat a more accurate trained head whose extra layer makes stage 0 the slow one. Without
 * {@code eval.json}: {@code MODEL/exit_head} when present, else the shared head at N/2. An explicit
 * {@code --exit-layer} or {@code --exit-head shared|DIR} narrows the candidates. The stages after the first are
 * always split by cost (the last one carries the LM head).
 *
 * <p>{@code spd} drafts with the model folder's SPD head ({@link #chooseSpd}): it needs nothing of the cycle it
 * drafts in, so it may run on any stage; the cost model picks the split and that stage (its host) together, among
 * the splits that give every pipeline depth the row type the head was trained with.
 *
 * @param exitHead the exit head (ppsd, and the split of ar-pipe); null when the SPD head drafts
 * @param spdHead  the SPD head (spd); null otherwise
 * @param host     the stage that runs the drafter (0 for an exit head)
 * @param reason   one line saying what was chosen and why, for logs and the benchmark report
 */
public record DrafterPlan(ExitHead exitHead, SpdHead spdHead, int host, PipelineSplit split, String reason) {
    /** File in the model folder with the measured acceptance per exit layer. */
    public static final String EVAL_FILE = "eval.json";

    public DrafterPlan {
        if ((exitHead == null) == (spdHead == null)) {
            throw new IllegalArgumentException("a drafter plan has an exit head or an SPD head");
        }
        if (host < 0 || host >= split.stages() || exitHead != null && host != 0) {
            throw new IllegalArgumentException("drafter host stage " + host + " outside the split " + split);
        }
    }

    /** The mode that drafts with this plan's drafter. */
    public String mode() {
        return spdHead != null ? "spd" : "ppsd";
    }

    /** Layers of the drafter's own KV cache. */
    int cacheLayers() {
        return spdHead != null ? spdHead.layerConfig().numHiddenLayers() : exitHead.trained() ? 1 : 0;
    }

    public static DrafterPlan choose(LlamaModel model, EngineOptions o, int stages) {
        int n = model.config().numHiddenLayers();
        StageCostModel cost = StageCostModel.of(model.config());
        String h = o.get(Settings.EXIT_HEAD);
        int exitLayer = o.get(Settings.EXIT_LAYER);
        if (!h.equals("auto") && !h.equals("shared")) {
            ExitHead head = defaultHead(model, o); // loads and checks DIR against --exit-layer
            return plan(cost, n, stages, head, Double.NaN, "exit head " + h);
        }
        Map<String, Map<Integer, Double>> alpha = model.dir() == null ? Map.of() : readAlpha(model.dir());
        List<Candidate> candidates = new ArrayList<>();
        int maxE = n - (stages - 1);
        if (h.equals("auto") && model.dir() != null) {
            for (Path dir : trainedHeadDirs(model.dir())) {
                int e = ExitHead.exitLayerOf(dir);
                Double a = alpha.getOrDefault("trained", Map.of()).get(e);
                if (a == null && !alpha.isEmpty()) {
                    // a head trained after the last `ppsd eval`: no basis for comparing, keep the default rule
                    alpha = Map.of();
                    candidates.clear();
                    break;
                }
                if (e >= 1 && e <= maxE && a != null && (exitLayer == 0 || exitLayer == e)) {
                    candidates.add(new Candidate(dir, e, a));
                }
            }
        }
        for (Map.Entry<Integer, Double> s : alpha.getOrDefault("shared", Map.of()).entrySet()) {
            int e = s.getKey();
            if (e >= 1 && e <= maxE && (exitLayer == 0 || exitLayer == e)) {
                candidates.add(new Candidate(null, e, s.getValue()));
            }
        }
        if (candidates.isEmpty()) {
            ExitHead head = defaultHead(model, o);
            return plan(cost, n, stages, head, Double.NaN, (h.equals("auto") && head.trained()
                    ? "the model folder's exit_head" : "the default") + " (no " + EVAL_FILE
                    + " acceptance to choose by)");
        }
        Candidate best = null;
        double bestCost = Double.POSITIVE_INFINITY;
        for (Candidate c : candidates) {
            double drafter = c.dir == null ? cost.drafter(false) : cost.drafter(true);
            double perToken = cost.ppsdPerToken(cost.split(n, stages, c.exitLayer), drafter, c.alpha);
            if (perToken < bestCost - 1e-9) {
                bestCost = perToken;
                best = c;
            }
        }
        ExitHead head = best.dir == null ? ExitHead.shared(model, best.exitLayer)
                : ExitHead.load(best.dir, model, model.manager());
        return plan(cost, n, stages, head, best.alpha, String.format(Locale.ROOT,
                "best of %d candidates by predicted cost (%.2f × an AR step per token at α %.3f from %s)",
                candidates.size(), bestCost / cost.ar(n), best.alpha, EVAL_FILE));
    }

    private static DrafterPlan plan(StageCostModel cost, int n, int stages, ExitHead head, double alpha,
            String why) {
        PipelineSplit split = cost.split(n, stages, head.exitLayer());
        String text = String.format(Locale.ROOT, "drafter: %s head after layer %d, stages %s: %s", head.kind(),
                head.exitLayer(), split, why);
        return new DrafterPlan(head, null, 0, split, text);
    }

    /**
     * The plan of {@code spd}: the SPD head in {@code MODEL/spd_head} (trained for {@code stages} stages), with the
     * split and host stage the cost model finds cheapest among the splits that give every depth the row type the
     * head was trained with; its acceptance in {@code eval.json} ({@code alpha_spd_head}) goes into the reason.
     */
    public static DrafterPlan chooseSpd(LlamaModel model, int stages) {
        if (model.dir() == null) {
            throw new IllegalArgumentException("mode spd needs a model folder holding an SPD head");
        }
        SpdHead head = SpdHead.load(SpdHead.checkIn(model.dir(), model.config(), stages), model, model.manager());
        int n = model.config().numHiddenLayers();
        StageCostModel cost = StageCostModel.of(model.config());
        double drafter = cost.spdHead(head.ownParameters());
        StageCostModel.Placement p = cost.placement(n, stages, drafter, s -> head.fits(s.bounds()));
        Double alpha = readAlpha(model.dir()).getOrDefault("spd", Map.of()).get(stages);
        String why = alpha == null ? "no " + EVAL_FILE + " acceptance" : String.format(Locale.ROOT,
                "predicted %.2f × an AR step per token at α %.3f from %s", p.maxStage() * (alpha + stages * (1 - alpha))
                        / cost.ar(n), alpha, EVAL_FILE);
        return new DrafterPlan(null, head, p.host(), p.split(), String.format(Locale.ROOT,
                "drafter: SPD head (anchors %s) on stage %d, stages %s: cheapest placement by the cost model (%s)",
                java.util.Arrays.toString(head.anchors()), p.host(), p.split(), why));
    }

    /**
     * The split an SPD head of {@code layers} layers of MLP width {@code intermediate} is trained for on
     * {@code stages} stages: the cost model's cheapest placement of a head of that size (with {@code stages + 1}
     * anchors, {@link SpdHead#defaultAnchors}' count for a split whose stages end before layer N−1).
     */
    public static PipelineSplit spdTrainingSplit(LlamaConfig c, int stages, int layers, int intermediate) {
        StageCostModel cost = StageCostModel.of(c);
        double drafter = cost.spdHead(SpdHead.ownParameters(c.withLayers(layers).withIntermediateSize(intermediate),
                stages + 1));
        return cost.placement(c.numHiddenLayers(), stages, drafter, s -> true).split();
    }

    /**
     * A new, untrained SPD head for {@code stages} stages ({@link SpdHead#init}) on the split {@link
     * #spdTrainingSplit} gives it, with {@code anchors} (null: {@link SpdHead#defaultAnchors} of that split);
     * {@code intermediate} 0: the model's MLP width. What {@code distill-spd-head} starts from.
     */
    public static SpdHead initSpdHead(LlamaModel model, int stages, int layers, int intermediate, int[] anchors,
            ai.djl.ndarray.NDManager manager) {
        LlamaConfig c = model.config();
        int width = intermediate > 0 ? intermediate : c.intermediateSize();
        int[] bounds = spdTrainingSplit(c, stages, layers, width).bounds();
        return SpdHead.init(model, anchors != null ? anchors : SpdHead.defaultAnchors(bounds), bounds, layers, width,
                manager);
    }

    private record Candidate(Path dir, int exitLayer, double alpha) {
    }

    /** Sub-folders {@code exit_head*} of the model folder that hold a head (config.json), in name order. */
    public static List<Path> trainedHeadDirs(Path modelDir) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(modelDir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(modelDir, "exit_head*")) {
            for (Path p : ds) {
                if (Files.isRegularFile(p.resolve("config.json"))) {
                    out.add(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + modelDir, e);
        }
        out.sort(null);
        return out;
    }

    /**
     * Acceptance by head kind ("shared" / "trained" by exit layer, "spd" by number of stages), averaged over the
     * held-out files of
     * {@code eval.json}; empty when the file is missing or unreadable (the plan then falls back to the default).
     */
    static Map<String, Map<Integer, Double>> readAlpha(Path modelDir) {
        Path f = modelDir.resolve(EVAL_FILE);
        if (!Files.isRegularFile(f)) {
            return Map.of();
        }
        Map<String, Map<Integer, double[]>> sums = new HashMap<>();
        try {
            JsonObject root = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
            for (Map.Entry<String, JsonElement> file : root.entrySet()) {
                if (!file.getValue().isJsonObject()) {
                    continue;
                }
                JsonObject r = file.getValue().getAsJsonObject();
                add(sums, "shared", r.get("alpha_shared_head"));
                add(sums, "trained", r.get("alpha_trained_head"));
                add(sums, "spd", r.get("alpha_spd_head"));
            }
        } catch (IOException | RuntimeException e) {
            return Map.of();
        }
        Map<String, Map<Integer, Double>> out = new HashMap<>();
        sums.forEach((kind, byLayer) -> {
            Map<Integer, Double> m = new HashMap<>();
            byLayer.forEach((e, s) -> m.put(e, s[0] / s[1]));
            out.put(kind, m);
        });
        return out;
    }

    private static void add(Map<String, Map<Integer, double[]>> sums, String kind, JsonElement table) {
        if (table == null || !table.isJsonObject()) {
            return;
        }
        for (Map.Entry<String, JsonElement> e : table.getAsJsonObject().entrySet()) {
            double a = e.getValue().getAsDouble();
            if (a >= 0 && a <= 1) {
                double[] s = sums.computeIfAbsent(kind, k -> new HashMap<>())
                        .computeIfAbsent(Integer.parseInt(e.getKey()), k -> new double[2]);
                s[0] += a;
                s[1]++;
            }
        }
    }

    /**
     * The drafter by the default rule (eesd, and pipelines without {@code eval.json}): {@code exit_head=auto} takes
     * the model folder's {@code exit_head/} when present (unless another exit layer is asked for), else the shared
     * LM head at {@code exit_layer} (default N/2); {@code shared} the shared head; a folder, the trained head in it.
     */
    public static ExitHead defaultHead(LlamaModel model, EngineOptions o) {
        int n = model.config().numHiddenLayers();
        String h = o.get(Settings.EXIT_HEAD);
        int exitLayer = o.get(Settings.EXIT_LAYER);
        Path dir = null;
        if (h.equals("auto")) {
            Path candidate = model.dir() == null ? null : model.dir().resolve("exit_head");
            // an explicit other exit layer than the trained head's: the shared head there (the trained one is
            // not loaded, so its weights take no memory)
            if (candidate != null && Files.isDirectory(candidate)
                    && (exitLayer == 0 || exitLayer == ExitHead.exitLayerOf(candidate))) {
                return ExitHead.load(candidate, model, model.manager());
            }
        } else if (!h.equals("shared")) {
            dir = Path.of(h);
            ExitHead trained = ExitHead.load(dir, model, model.manager());
            ExitHead.checkTrainedFor(exitLayer, dir, trained.exitLayer());
            return trained;
        }
        int e = exitLayer == 0 ? n / 2 : exitLayer;
        ExitHead.checkExitLayer(model.config(), e);
        return ExitHead.shared(model, e);
    }
}
