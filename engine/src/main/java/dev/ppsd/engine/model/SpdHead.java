package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.runtime.PackedLinear;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The SPD head: speculative pipeline decoding's drafter (the paper's Pipeline Draft Module). It drafts the token
 * after the newest one in a k-stage pipeline from features that already exist when a cycle starts, so it needs
 * nothing the cycle computes and can run beside the stages instead of after stage 0.
 *
 * <p><b>Rows.</b> Every position up to the newest is one row. A position whose token has reached depth {@code r}
 * (the residual stream after the model's first {@code r} layers: 0 before any stage ran it, the end of the last
 * stage it passed, N once it left the pipeline) has the states at the <em>anchors</em> {@code a_0 = 0 < a_1 < ...}
 * that are {@code <= r}; its <em>type</em> {@code j} is the deepest such anchor, and its row is
 * <pre>  row = W_j · concat(RMSNorm_i(h_{a_i}) for i = 0..j)       [(j+1)·D] -> [D]</pre>
 * where {@code h_0} is the token's embedding (the head looks it up itself). The rows go through the head's own
 * decoder layer(s), the model's {@link DecoderLayer} with its own KV cache, causal over positions; the newest row's
 * output, through the head's norm and the model's LM head, gives the draft distribution for the next position.
 * Rows of positions that have left the pipeline (type {@code m-1}) stay in the head's cache; the rows of tokens still
 * in flight are recomputed every cycle at their new depth.
 *
 * <p><b>Training layout</b> ({@link #teacherForcedLogits}): the rows of all {@code m} types of every position of a
 * text, side by side, with a mask that lets the query of type {@code j} at position {@code t} see, at each earlier
 * position, only the row of the type that position has in the pipeline state the query stands for: with {@code f}
 * tokens in flight (the <em>fill</em>: k in steady state, 1 right after a flush), the newest at depth 0, the one
 * before at depth 1, ..., and the positions {@code >= f} behind the newest complete. The same numbers as the cached
 * pipeline computes, for every position at once.
 *
 * <p>Stored in the HF layout in {@code MODEL/spd_head/}: {@code config.json} (the base config with the head's
 * layer count and intermediate size, plus {@code spd_anchor_layers}, {@code spd_stage_bounds} — the split it was
 * trained for — and {@code base_num_hidden_layers}) and {@code model.safetensors}
 * ({@code model.spd_anchor_norms.i.weight [D]}, {@code model.spd_projections.j.weight [D, (j+1)·D]},
 * {@code model.layers.l.*}, {@code model.norm.weight}); the embedding and LM head are the model's.
 */
public final class SpdHead {
    /** The head's folder in a model folder. */
    public static final String DIR = "spd_head";
    static final String ANCHOR_NORM = "model.spd_anchor_norms.%d.weight";
    static final String PROJECTION = "model.spd_projections.%d.weight";

    private final LlamaConfig base;
    private final LlamaConfig layerConfig;
    private final int[] anchors;
    private final int[] stageBounds;
    private final NDArray[] anchorNorms; // per anchor [D]
    private final NDArray[] projections; // per type j [D, (j+1)·D]
    private final LayerWeights[] layers;
    private final NDArray norm; // [D]
    private final NDArray embed; // [V, D], the model's
    private final NDArray lmHead; // [V, D], the model's

    private SpdHead(LlamaConfig base, LlamaConfig layerConfig, int[] anchors, int[] stageBounds,
            NDArray[] anchorNorms, NDArray[] projections, LayerWeights[] layers, NDArray norm, NDArray embed,
            NDArray lmHead) {
        this.base = base;
        this.layerConfig = layerConfig;
        this.anchors = anchors;
        this.stageBounds = stageBounds;
        this.anchorNorms = anchorNorms;
        this.projections = projections;
        this.layers = layers;
        this.norm = norm;
        this.embed = embed;
        this.lmHead = lmHead;
    }

    /**
     * The default anchors for a pipeline split {@code bounds = [0, b_1, ..., b_k = N]}: the embedding, the end of
     * every stage but the last, and layer N−1 (SPD's {0, L/2, L−1} for two even stages).
     */
    public static int[] defaultAnchors(int[] bounds) {
        int n = bounds[bounds.length - 1];
        java.util.TreeSet<Integer> a = new java.util.TreeSet<>();
        a.add(0);
        for (int s = 1; s < bounds.length - 1; s++) {
            a.add(bounds[s]);
        }
        a.add(n - 1);
        return a.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * A new head for {@code model} that drafts, untrained, as the shared LM head after the model's first
     * {@code layerCount} layers would from the tokens' embeddings: its layers are copies of those layers (the MLP
     * cut to its first {@code intermediate} units when narrower), every projection passes the embedding through
     * (the deeper anchors start at zero weight; training teaches the head to use them), the embedding's norm is
     * scaled to the embeddings' mean RMS (so a row starts as the embedding itself), the other anchor norms are 1,
     * and its norm is the model's final norm. Owned by {@code manager}.
     */
    public static SpdHead init(LlamaModel model, int[] anchors, int[] stageBounds, int layerCount, int intermediate,
            NDManager manager) {
        LlamaConfig c = model.config();
        check(c, anchors, stageBounds, layerCount);
        if (intermediate < 1 || intermediate > c.intermediateSize()) {
            throw new IllegalArgumentException("intermediate size of the SPD head must be in [1, "
                    + c.intermediateSize() + "] but was " + intermediate);
        }
        LlamaConfig lc = c.withLayers(layerCount).withIntermediateSize(intermediate);
        int d = c.hiddenSize();
        NDArray[] norms = new NDArray[anchors.length];
        NDArray[] proj = new NDArray[anchors.length];
        float rms;
        try (ai.djl.ndarray.NDScope ignored = new ai.djl.ndarray.NDScope()) {
            NDArray e = model.weights().embed().toType(ai.djl.ndarray.types.DataType.FLOAT32, true);
            rms = e.square().mean(new int[] {-1}).sqrt().mean().getFloat(); // mean RMS of the embeddings
        }
        for (int j = 0; j < anchors.length; j++) {
            float[] ones = new float[d];
            Arrays.fill(ones, j == 0 ? rms : 1f);
            norms[j] = typed(manager.create(ones, new Shape(d)), model);
            float[] w = new float[d * (j + 1) * d]; // [D, (j+1)·D]: out i <- in i (the embedding)
            for (int i = 0; i < d; i++) {
                w[i * (j + 1) * d + i] = 1;
            }
            proj[j] = typed(manager.create(w, new Shape(d, (long) (j + 1) * d)), model);
        }
        LayerWeights[] ls = new LayerWeights[layerCount];
        for (int l = 0; l < layerCount; l++) {
            LayerWeights from = model.weights().layer(l);
            // plain copies (of a packed layer too): the head's layers are trained
            ls[l] = from.map(a -> PackedLinear.plainCopy(a, manager));
            if (intermediate < c.intermediateSize()) {
                ls[l] = narrowMlp(ls[l], intermediate, manager);
            }
        }
        NDArray n = model.weights().finalNorm().duplicate();
        n.attach(manager);
        return new SpdHead(c, lc, anchors.clone(), stageBounds.clone(), norms, proj, ls, n, model.weights().embed(),
                model.weights().lmHead());
    }

    private static NDArray typed(NDArray a, LlamaModel model) {
        return Bfloat16.toType(a, model.dataType());
    }

    /** The layer with its MLP cut to the first {@code i} hidden units. */
    private static LayerWeights narrowMlp(LayerWeights w, int i, NDManager manager) {
        NDArray gate = w.gate().get(new ai.djl.ndarray.index.NDIndex().addSliceDim(0, i)).duplicate();
        NDArray up = w.up().get(new ai.djl.ndarray.index.NDIndex().addSliceDim(0, i)).duplicate();
        NDArray down = w.down().get(new ai.djl.ndarray.index.NDIndex().addAllDim().addSliceDim(0, i)).duplicate();
        for (NDArray a : List.of(gate, up, down)) {
            a.attach(manager);
        }
        return new LayerWeights(w.inputNorm(), w.q(), w.k(), w.v(), w.o(), w.postAttentionNorm(), gate, up, down,
                w.qBias(), w.kBias(), w.vBias(), w.oBias(), w.qNorm(), w.kNorm());
    }

    /** Validates anchors and split against a model of config {@code c}: every type is some depth's type. */
    private static void check(LlamaConfig c, int[] anchors, int[] bounds, int layerCount) {
        int n = c.numHiddenLayers();
        if (layerCount < 1) {
            throw new IllegalArgumentException("the SPD head needs at least 1 layer but got " + layerCount);
        }
        if (bounds.length < 3 || bounds[0] != 0 || bounds[bounds.length - 1] != n) {
            throw new IllegalArgumentException("stage bounds must run from 0 to " + n + " over at least 2 stages but"
                    + " were " + Arrays.toString(bounds));
        }
        for (int s = 1; s < bounds.length; s++) {
            if (bounds[s] <= bounds[s - 1]) {
                throw new IllegalArgumentException("stage bounds must increase but were " + Arrays.toString(bounds));
            }
        }
        if (anchors.length < 1 || anchors[0] != 0) {
            throw new IllegalArgumentException("SPD anchors must start with 0 (the embedding) but were "
                    + Arrays.toString(anchors));
        }
        for (int i = 1; i < anchors.length; i++) {
            if (anchors[i] <= anchors[i - 1] || anchors[i] > n) {
                throw new IllegalArgumentException("SPD anchors must increase within [0, " + n + "] but were "
                        + Arrays.toString(anchors));
            }
        }
        int[] types = depthTypes(anchors, bounds);
        for (int j = 0; j < anchors.length; j++) {
            final int type = j;
            if (Arrays.stream(types).noneMatch(t -> t == type)) {
                throw new IllegalArgumentException("SPD anchor " + anchors[j] + " is never the deepest one a token has"
                        + " on stages " + Arrays.toString(bounds) + " (anchors " + Arrays.toString(anchors) + ")");
            }
        }
    }

    /** The row type of a token that has reached depth {@code reach}: the deepest anchor {@code <= reach}. */
    static int typeAt(int[] anchors, int reach) {
        int j = 0;
        while (j + 1 < anchors.length && anchors[j + 1] <= reach) {
            j++;
        }
        return j;
    }

    /**
     * The row type of a token after {@code d} stages of the split {@code bounds} ({@code d >= k}: complete), for
     * {@code d = 0..k}.
     */
    public static int[] depthTypes(int[] anchors, int[] bounds) {
        int k = bounds.length - 1;
        int[] out = new int[k + 1];
        for (int d = 0; d <= k; d++) {
            out[d] = typeAt(anchors, bounds[d]);
        }
        return out;
    }

    /** This head's row type after {@code d} stages of the split {@code bounds} (k or more: complete). */
    public int typeAfter(int d, int[] bounds) {
        return typeAt(anchors, bounds[Math.min(d, bounds.length - 1)]);
    }

    /** Whether a pipeline split gives every depth the row type it had in training. */
    public boolean fits(int[] bounds) {
        return Arrays.equals(depthTypes(anchors, bounds), depthTypes(anchors, stageBounds));
    }

    /** The anchors: depths whose states make the rows (0 = the embedding). */
    public int[] anchors() {
        return anchors.clone();
    }

    /** The pipeline split the head was trained for, {@code [0, b_1, ..., N]}. */
    public int[] stageBounds() {
        return stageBounds.clone();
    }

    public int stages() {
        return stageBounds.length - 1;
    }

    /** The head's layers' config: the model's with the head's layer count and MLP width. */
    public LlamaConfig layerConfig() {
        return layerConfig;
    }

    /** Weight elements read per draft (projections and layers; the LM head is counted by the caller). */
    public long ownParameters() {
        return ownParameters(layerConfig, anchors.length);
    }

    /** As {@link #ownParameters()} for a head with {@code anchors} anchors and layers of config {@code layers}. */
    public static long ownParameters(LlamaConfig layers, int anchors) {
        long d = layers.hiddenSize();
        long p = d * d * anchors * (anchors + 1) / 2; // projection j: D x (j+1)·D
        for (long[] shape : LayerWeights.shapes(layers)) {
            p += layers.numHiddenLayers() * Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        }
        return p;
    }

    /** A stack of the head's decoder layers (its own KV cache holds them). */
    public LayerStack stack(Rope rope) {
        return new LayerStack(layerConfig, layers, 0, rope.device(), rope);
    }

    /**
     * The rows of positions of one type {@code j}: token ids {@code [B][T]} and the states {@code [B, T, D]} at
     * anchors {@code 1..j} ({@code states[i]}; {@code states[0]} is not read: the head embeds the tokens itself)
     * {@code -> [B, T, D]}.
     */
    public NDArray rows(NDManager m, int[][] tokens, NDArray[] states, int type) {
        NDList parts = new NDList();
        for (int i = 0; i <= type; i++) {
            NDArray h = i == 0 ? LlamaModel.embed(embed, m, tokens) : states[i];
            parts.add(DecoderLayer.rmsNorm(h, anchorNorms[i], base.rmsNormEps()));
        }
        // [B, T, (j+1)·D] -> [B, T, D]
        NDArray in = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, -1);
        return Linear.linear(in, projections[type]).head();
    }

    /** The head's layers on rows {@code [B, T, D]} at the positions of {@code a}, cached in {@code cache}. */
    public NDArray advance(NDArray rows, AttentionBatch a, KvCache cache) {
        return DecoderLayer.forward(layerConfig, layers, 0, layers.length, rows, a, cache);
    }

    /** Draft logits from {@link #advance}'s output {@code h}: its last position, norm, LM head {@code -> [B, 1, V]}. */
    public NDArray draftLogits(NDArray h) {
        NDArray last = h.getShape().get(1) == 1 ? h : h.get(":, -1:, :");
        return DecoderLayer.lmHead(last, norm, lmHead, base.rmsNormEps());
    }

    /**
     * The draft logits at every position of whole texts, teacher-forced, as the pipeline would compute them with
     * {@code fill[b]} tokens in flight when the token at each position is the newest: token ids {@code [B][T]},
     * the model's states at every anchor {@code states[i] [B, T, D]} ({@code states[0]} not read)
     * {@code -> [B, T, V]}: position {@code t} drafts token {@code t + 1}. Differentiable in the head's weights.
     */
    public NDArray teacherForcedLogits(NDManager m, Rope rope, int[][] tokens, NDArray[] states, int[] fill) {
        int b = tokens.length;
        int t = tokens[0].length;
        int types = anchors.length;
        NDList blocks = new NDList();
        for (int j = 0; j < types; j++) {
            blocks.add(rows(m, tokens, states, j)); // [B, T, D] of type j
        }
        NDArray x = NDArrays.concat(blocks, 1); // [B, m·T, D]: type-major
        int rows = types * t;
        long[] positions = new long[b * rows];
        for (int r = 0; r < b * rows; r++) {
            positions[r] = r % t;
        }
        boolean[][] visible = new boolean[b][];
        for (int r = 0; r < b; r++) {
            visible[r] = visibility(t, fill[r], rope.slidingWindow());
        }
        NDArray h = advance(x, AttentionBatch.masked(m, rope, positions, visible, rows), null);
        // the type-0 rows (each position as the newest token) give the drafts: [B, m·T, D] -> [B, T, D]
        NDArray newest = h.get(new ai.djl.ndarray.index.NDIndex().addAllDim().addSliceDim(0, t));
        return DecoderLayer.lmHead(newest, norm, lmHead, base.rmsNormEps());
    }

    /**
     * The training layout's mask for {@code T} positions and fill {@code f}, row-major over {@code [m·T] x [m·T]}
     * (type-major rows): query (type j, position t) sees key (type i, position s) iff {@code s <= t} (and within the
     * sliding window), and {@code i} is the type position {@code s} has when the query's token is at the least depth
     * of type j and {@code t - s} positions separate them.
     */
    boolean[] visibility(int t, int f, int window) {
        int types = anchors.length;
        int k = stages();
        int[] byDepth = depthTypes(anchors, stageBounds);
        int[] minDepth = new int[types];
        Arrays.fill(minDepth, Integer.MAX_VALUE);
        for (int d = k; d >= 0; d--) {
            minDepth[byDepth[d]] = d;
        }
        int rows = types * t;
        boolean[] v = new boolean[rows * rows];
        for (int jq = 0; jq < types; jq++) {
            for (int q = 0; q < t; q++) {
                for (int s = 0; s <= q; s++) {
                    if (window > 0 && q - s >= window) {
                        continue;
                    }
                    int depth = minDepth[jq] + (q - s); // of position s when position q is at minDepth[jq]
                    int jk = depth >= f ? byDepth[k] : byDepth[depth];
                    v[(jq * t + q) * rows + jk * t + s] = true;
                }
            }
        }
        return v;
    }

    /** The trainable tensors by name. */
    public Map<String, NDArray> named() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (int i = 0; i < anchorNorms.length; i++) {
            out.put(String.format(ANCHOR_NORM, i), anchorNorms[i]);
        }
        for (int j = 0; j < projections.length; j++) {
            out.put(String.format(PROJECTION, j), projections[j]);
        }
        for (int l = 0; l < layers.length; l++) {
            out.putAll(layers[l].named("model.", l));
        }
        out.put(LlamaWeights.NORM, norm);
        return out;
    }

    /** This head with its arrays on {@code device} (itself when already there), copies owned by {@code owner}. */
    public SpdHead onDevice(Device device, NDManager owner) {
        if (lmHead.getDevice().equals(device)) {
            return this;
        }
        java.util.function.UnaryOperator<NDArray> copy = a -> Bfloat16.toDevice(a, device, owner);
        LayerWeights[] ls = new LayerWeights[layers.length];
        for (int l = 0; l < ls.length; l++) {
            ls[l] = layers[l].copyTo(owner, device);
        }
        NDArray e = copy.apply(embed);
        return new SpdHead(base, layerConfig, anchors, stageBounds,
                Arrays.stream(anchorNorms).map(copy).toArray(NDArray[]::new),
                Arrays.stream(projections).map(copy).toArray(NDArray[]::new), ls, copy.apply(norm), e,
                lmHead == embed ? e : copy.apply(lmHead)); // tied embeddings: one copy
    }

    /** Writes the head to {@code dir} (config.json + model.safetensors, float32). */
    public void save(Path dir) throws IOException {
        JsonObject cfg = layerConfig.toJson();
        cfg.add("spd_anchor_layers", ints(anchors));
        cfg.add("spd_stage_bounds", ints(stageBounds));
        cfg.addProperty("base_num_hidden_layers", base.numHiddenLayers());
        cfg.addProperty("base_intermediate_size", base.intermediateSize());
        cfg.addProperty("shared_lm_head", true);
        DrafterFiles.write(dir, cfg, named());
    }

    private static JsonArray ints(int[] v) {
        JsonArray a = new JsonArray();
        Arrays.stream(v).forEach(a::add);
        return a;
    }

    /** What a head folder declares, read without its weights ({@link #check}). */
    public record Info(LlamaConfig layerConfig, int[] anchors, int[] stageBounds) {
        public int stages() {
            return stageBounds.length - 1;
        }
    }

    /**
     * Checks, without reading any weight, that {@code dir} holds an SPD head built for a model of config
     * {@code base}: its config, anchors, split and every tensor header. Throws {@link ModelLoadException} naming the
     * file.
     */
    public static Info check(Path dir, LlamaConfig base) {
        Path cfgFile = dir.resolve("config.json");
        JsonObject o = DrafterFiles.readConfig(dir, "an SPD head folder needs config.json; train one with"
                + " bin/ppsd distill-spd-head");
        if (!o.has("spd_anchor_layers") || !o.has("spd_stage_bounds")) {
            throw new ModelLoadException(cfgFile, "missing field spd_anchor_layers or spd_stage_bounds (not an SPD"
                    + " head)");
        }
        LlamaConfig head;
        int[] anchors;
        int[] bounds;
        try {
            head = LlamaConfig.fromJson(o);
            anchors = intArray(o.get("spd_anchor_layers"));
            bounds = intArray(o.get("spd_stage_bounds"));
        } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException ex) {
            throw new ModelLoadException(cfgFile, ex.getMessage(), ex);
        }
        int baseLayers = o.has("base_num_hidden_layers") ? o.get("base_num_hidden_layers").getAsInt() : -1;
        boolean sameLayer = head.withLayers(base.numHiddenLayers()).withIntermediateSize(base.intermediateSize())
                .sameLayerAs(base);
        if (!sameLayer || baseLayers != base.numHiddenLayers()) {
            throw new ModelLoadException(cfgFile, DrafterFiles.builtForAnother("SPD head", head, baseLayers, base));
        }
        try {
            check(base, anchors, bounds, head.numHiddenLayers());
        } catch (IllegalArgumentException ex) {
            throw new ModelLoadException(cfgFile, ex.getMessage());
        }
        try (LlamaWeights.TensorSource src = LlamaWeights.TensorSource.open(dir)) {
            src.checkNames(expectedShapes(base, head, anchors.length), n -> LlamaWeights.harmless(n, false),
                    "an SPD head of " + base.family().architecture() + " (anchor norms, projections, "
                            + head.numHiddenLayers() + " layer(s), norm)");
        }
        return new Info(head, anchors, bounds);
    }

    /**
     * The SPD head folder of model folder {@code modelDir}, checked ({@link #check}) to be there and trained for a
     * pipeline of {@code stages} stages (IllegalArgumentException naming the settings otherwise).
     */
    public static Path checkIn(Path modelDir, LlamaConfig base, int stages) {
        Path dir = modelDir.resolve(DIR);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("mode spd needs an SPD head in " + dir
                    + " (train one with: bin/ppsd distill-spd-head --model " + modelDir + ")");
        }
        Info info = check(dir, base);
        if (info.stages() != stages) {
            throw new IllegalArgumentException("the SPD head in " + dir + " was trained for " + info.stages()
                    + " stages but the pipeline has " + stages + " (stages / num_stages)");
        }
        return dir;
    }

    private static int[] intArray(JsonElement e) {
        return e.getAsJsonArray().asList().stream().mapToInt(JsonElement::getAsInt).toArray();
    }

    /** Loads the head in {@code dir} in the model's type, checked against {@code model} ({@link #check}). */
    public static SpdHead load(Path dir, LlamaModel model, NDManager manager) {
        LlamaConfig base = model.config();
        Info info = check(dir, base);
        Map<String, long[]> shapes = expectedShapes(base, info.layerConfig(), info.anchors().length);
        try (LlamaWeights.TensorSource src = LlamaWeights.TensorSource.open(dir)) {
            java.util.function.Function<String, NDArray> read = name -> src.load(manager, name, model.dataType(),
                    shapes.get(name));
            int m = info.anchors().length;
            NDArray[] norms = new NDArray[m];
            NDArray[] proj = new NDArray[m];
            for (int j = 0; j < m; j++) {
                norms[j] = read.apply(String.format(ANCHOR_NORM, j));
                proj[j] = read.apply(String.format(PROJECTION, j));
            }
            LlamaConfig lc = info.layerConfig();
            LayerWeights[] ls = new LayerWeights[lc.numHiddenLayers()];
            for (int l = 0; l < ls.length; l++) {
                List<NDArray> t = new ArrayList<>();
                for (String n : LayerWeights.names(lc)) {
                    t.add(read.apply(LlamaWeights.layerName("model.", l, n)));
                }
                ls[l] = LayerWeights.of(lc, t);
            }
            return new SpdHead(base, lc, info.anchors(), info.stageBounds(), norms, proj, ls,
                    read.apply(LlamaWeights.NORM), model.weights().embed(), model.weights().lmHead());
        }
    }

    /** The tensors of an SPD head with layers of config {@code head} and {@code m} anchors, with their shapes. */
    private static Map<String, long[]> expectedShapes(LlamaConfig base, LlamaConfig head, int m) {
        long d = base.hiddenSize();
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < m; i++) {
            expected.put(String.format(ANCHOR_NORM, i), new long[] {d});
        }
        for (int j = 0; j < m; j++) {
            expected.put(String.format(PROJECTION, j), new long[] {d, (j + 1) * d});
        }
        List<String> names = LayerWeights.names(head);
        long[][] shapes = LayerWeights.shapes(head);
        for (int l = 0; l < head.numHiddenLayers(); l++) {
            for (int j = 0; j < names.size(); j++) {
                expected.put(LlamaWeights.layerName("model.", l, names.get(j)), shapes[j]);
            }
        }
        expected.put(LlamaWeights.NORM, new long[] {d});
        return expected;
    }
}
