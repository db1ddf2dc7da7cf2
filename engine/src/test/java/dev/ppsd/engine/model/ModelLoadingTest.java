package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.Safetensors;
import dev.ppsd.engine.checkpoint.ModelLoadException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad model folders fail with a {@link ModelLoadException} naming the file and the problem; good variants load. */
class ModelLoadingTest {
    private static final LlamaConfig CFG = ReferenceForwardTest.config(32, 64, 2, 4, 2, 8, 40, 64, false);
    private static final int[] PROMPT = {3, 14, 15, 9, 26, 5};

    @TempDir
    Path dir;

    private Map<String, Safetensors.Tensor> tensors;

    @BeforeAll
    static void init() {
        DjlRuntime.init();
    }

    @BeforeEach
    void writeGoodModel() throws IOException {
        tensors = ReferenceForwardTest.writeModel(dir, CFG, 7, "F32");
    }

    private Path st() {
        return dir.resolve("model.safetensors");
    }

    private Path configFile() {
        return dir.resolve("config.json");
    }

    /** Loading {@code d} fails; returns the message after checking it names {@code file} and each fragment. */
    private static String loadFails(Path d, Path file, String... fragments) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> LlamaModel.load(d).close());
        assertTrue(e instanceof ModelLoadException, "expected ModelLoadException but got " + e);
        String msg = e.getMessage();
        assertTrue(msg.contains(file.toString()), "message does not name " + file + ": " + msg);
        for (String f : fragments) {
            assertTrue(msg.contains(f), "message does not contain '" + f + "': " + msg);
        }
        return msg;
    }

    private static JsonArray ints(int... values) {
        JsonArray a = new JsonArray();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    private static void setArchitecture(JsonObject o, String architecture, String modelType) {
        JsonArray a = new JsonArray();
        a.add(architecture);
        o.add("architectures", a);
        o.addProperty("model_type", modelType);
    }

    private void editConfig(Consumer<JsonObject> edit) throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(configFile())).getAsJsonObject();
        edit.accept(o);
        Files.writeString(configFile(), o.toString());
    }

    /** Rewrites the JSON header of {@code file} keeping the data section byte for byte. */
    private static void editHeader(Path file, Consumer<JsonObject> edit) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        JsonObject header = JsonParser.parseString(new String(all, 8, (int) n, StandardCharsets.UTF_8))
                .getAsJsonObject();
        edit.accept(header);
        byte[] hb = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + hb.length + all.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(hb.length).put(hb).put(all, 8 + (int) n, all.length - 8 - (int) n);
        Files.write(file, out.array());
    }

    private static float[] lastLogits(Path d) {
        try (LlamaModel m = LlamaModel.load(d); KvCache c = m.newCache(1, 16)) {
            float[][] l = m.forwardLogits(c, 0, PROMPT, 0);
            return l[l.length - 1];
        }
    }

    // ------------------------------------------------------------------ missing files

    @Test
    void missingConfig() throws IOException {
        Files.delete(configFile());
        loadFails(dir, configFile(), "missing file");
    }

    @Test
    void missingSafetensors() throws IOException {
        Files.delete(st());
        loadFails(dir, st(), "missing file", "model.safetensors.index.json");
    }

    // ------------------------------------------------------------------ bad tensors

    @Test
    void wrongShape() throws IOException {
        // k_proj stored transposed: [D, KV*hd] = [32, 16] instead of [16, 32]
        String name = "model.layers.1.self_attn.k_proj.weight";
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>(tensors);
        t.put(name, new Safetensors.Tensor(t.get(name).values(), 32, 16));
        Safetensors.write(st(), t, "F32");
        loadFails(dir, st(), name, "[32, 16]", "[16, 32]");
    }

    @Test
    void unknownDtype() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).addProperty("dtype", "I8"));
        loadFails(dir, st(), LlamaWeights.NORM, "unknown dtype I8");
    }

    @Test
    void headerCutToFiveBytes() throws IOException {
        byte[] all = Files.readAllBytes(st());
        Files.write(st(), Arrays.copyOf(all, 5));
        loadFails(dir, st(), "truncated safetensors header", "5 bytes");
    }

    @Test
    void headerLengthLargerThanFile() throws IOException {
        byte[] all = Files.readAllBytes(st());
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, all.length + 100L);
        Files.write(st(), all);
        loadFails(dir, st(), "header length " + (all.length + 100L), "file has " + all.length + " bytes");
    }

    @Test
    void truncatedDataSection() throws IOException {
        byte[] all = Files.readAllBytes(st());
        Files.write(st(), Arrays.copyOf(all, all.length - 10));
        // the last tensor written (untied model) is lm_head
        loadFails(dir, st(), "truncated", LlamaWeights.LM_HEAD);
    }

    @Test
    void byteLengthDisagreesWithShape() throws IOException {
        // offsets cover 2 floats fewer than the shape needs (file itself is long enough)
        editHeader(st(), h -> {
            JsonArray offs = h.getAsJsonObject(LlamaWeights.NORM).getAsJsonArray("data_offsets");
            offs.set(1, new com.google.gson.JsonPrimitive(offs.get(1).getAsLong() - 8));
        });
        loadFails(dir, st(), LlamaWeights.NORM, "bytes", "[32]");
    }

    // ------------------------------------------------------------------ header entries (issue "Hardening", point 2)

    /** Loading fails with exactly {@code model.safetensors: tensor NAME: problem}: the file and the tensor named. */
    private void headerRefused(String tensor, String problem) {
        assertEquals(st() + ": tensor " + tensor + ": " + problem, loadFails(dir, st(), tensor));
    }

    @Test
    void headerKeyWithOneFlippedByte() throws IOException {
        // "dtype" -> "dtypd" in the raw bytes of the first entry (the embedding): same length, valid JSON
        byte[] all = Files.readAllBytes(st());
        String text = new String(all, StandardCharsets.ISO_8859_1);
        int at = text.indexOf("\"dtype\"");
        all[at + 5] = 'd';
        Files.write(st(), all);
        headerRefused(LlamaWeights.EMBED, "header entry has no dtype (it has: dtypd, shape, data_offsets)");
    }

    @Test
    void headerEntryWithoutShape() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).remove("shape"));
        headerRefused(LlamaWeights.NORM, "header entry has no shape (it has: dtype, data_offsets)");
    }

    @Test
    void headerEntryWithoutDataOffsets() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).remove("data_offsets"));
        headerRefused(LlamaWeights.NORM, "header entry has no data_offsets (it has: dtype, shape)");
    }

    @Test
    void headerEntryNotAnObject() throws IOException {
        editHeader(st(), h -> h.addProperty(LlamaWeights.NORM, 5));
        headerRefused(LlamaWeights.NORM, "header entry must be an object but was 5");
    }

    @Test
    void headerDtypeNotAString() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).add("dtype", new JsonArray()));
        headerRefused(LlamaWeights.NORM, "dtype must be a string but was []");
    }

    @Test
    void headerShapeNotAListOfIntegers() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).addProperty("shape", "32"));
        headerRefused(LlamaWeights.NORM, "shape must be a list of non-negative integers but was \"32\"");
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).add("shape", ints(-32)));
        headerRefused(LlamaWeights.NORM, "shape must be a list of non-negative integers but was [-32]");
    }

    @Test
    void headerDataOffsetsWrongArity() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).add("data_offsets", ints(0)));
        headerRefused(LlamaWeights.NORM, "data_offsets must be a list of 2 of non-negative integers but was [0]");
    }

    @Test
    void headerDataOffsetsBackwards() throws IOException {
        editHeader(st(), h -> h.getAsJsonObject(LlamaWeights.NORM).add("data_offsets", ints(128, 0)));
        headerRefused(LlamaWeights.NORM, "data_offsets [128, 0] begin after they end");
    }

    // ------------------------------------------------------------------ tensors the config does not account for

    @Test
    void configWithFewerLayersThanTheFileIsRefused() throws IOException {
        // the case: num_hidden_layers smaller than the checkpoint's layers would load half the model
        editConfig(o -> o.addProperty("num_hidden_layers", 1));
        assertEquals(st() + ": 9 tensors not used by config.json (LlamaForCausalLM, 1 layers, tie_word_embeddings"
                + " false): model.layers.1.input_layernorm.weight, model.layers.1.mlp.down_proj.weight,"
                + " model.layers.1.mlp.gate_proj.weight, model.layers.1.mlp.up_proj.weight,"
                + " model.layers.1.post_attention_layernorm.weight, model.layers.1.self_attn.k_proj.weight,"
                + " model.layers.1.self_attn.o_proj.weight, model.layers.1.self_attn.q_proj.weight, ...",
                loadFails(dir, st()));
    }

    @Test
    void rotaryInvFreqBuffersAreHarmless() throws IOException {
        float[] want = lastLogits(dir);
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>(tensors);
        t.put("model.layers.0.self_attn.rotary_emb.inv_freq", new Safetensors.Tensor(new float[4], 4));
        Safetensors.write(st(), t, "F32");
        assertArrayEquals(want, lastLogits(dir));
    }

    @Test
    void exitHeadFolderWithATensorItDoesNotUseIsRefused() throws IOException {
        Path head = dir.resolve("exit_head");
        try (LlamaModel m = LlamaModel.load(dir)) {
            ExitHead.initTrained(m, 1, m.manager()).save(head);
            Path file = head.resolve("model.safetensors");
            Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
            try (Safetensors.Reader r = Safetensors.open(file)) {
                for (Safetensors.TensorInfo i : r.tensors().values()) {
                    t.put(i.name(), new Safetensors.Tensor(r.readFloats(i.name()), i.shape()));
                }
            }
            // a second layer: a head with more than one layer would silently run only its first
            t.put("model.layers.1.input_layernorm.weight", new Safetensors.Tensor(new float[32], 32));
            Safetensors.write(file, t, "F32");
            RuntimeException e = assertThrows(ModelLoadException.class, () -> ExitHead.load(head, m, m.manager()));
            assertEquals(file + ": 1 tensor not used by an exit head of LlamaForCausalLM (exit_norm, one layer,"
                    + " norm): model.layers.1.input_layernorm.weight", e.getMessage());
        }
    }

    @Test
    void configSaysMoreLayersThanFile() throws IOException {
        editConfig(o -> o.addProperty("num_hidden_layers", 3));
        loadFails(dir, st(), "model.layers.2.", "not found");
    }

    @Test
    void untiedConfigWithoutLmHead() throws IOException {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>(tensors);
        t.remove(LlamaWeights.LM_HEAD);
        Safetensors.write(st(), t, "F32");
        loadFails(dir, st(), LlamaWeights.LM_HEAD, "tie_word_embeddings");
    }

    // ------------------------------------------------------------------ config fields

    @Test
    void ropeScalingLinearLoadsAndMovesTheLogits() throws IOException {
        float[] plain = lastLogits(dir);
        editConfig(o -> {
            JsonObject rs = new JsonObject();
            rs.addProperty("type", "linear"); // the legacy key
            rs.addProperty("factor", 2.0);
            o.add("rope_scaling", rs);
        });
        assertTrue(ReferenceForwardTest.maxAbsDiff(plain, lastLogits(dir)) > 100 * ReferenceForwardTest.TOL,
                "linear scaling changes positions, so logits");
    }

    @Test
    void ropeScalingNullIsFine() throws IOException {
        float[] want = lastLogits(dir);
        editConfig(o -> o.add("rope_scaling", JsonNull.INSTANCE));
        assertArrayEquals(want, lastLogits(dir));
    }

    @Test
    void unsupportedArchitecture() throws IOException {
        editConfig(o -> {
            JsonArray a = new JsonArray();
            a.add("GPT2LMHeadModel");
            o.add("architectures", a);
        });
        loadFails(dir, configFile(), "architecture", "GPT2LMHeadModel");
    }

    @Test
    void unsupportedActivation() throws IOException {
        editConfig(o -> o.addProperty("hidden_act", "gelu"));
        loadFails(dir, configFile(), "hidden_act", "gelu");
    }

    @Test
    void attentionBiasWithoutBiasTensorsIsRefused() throws IOException {
        editConfig(o -> o.addProperty("attention_bias", true));
        loadFails(dir, st(), "model.layers.0.self_attn.q_proj.bias not found", "q/k/v biases");
    }

    @Test
    void slidingWindowOnMistralIsHonouredWhenShorterThanTheContext() throws IOException {
        float[] full = lastLogits(dir);
        editConfig(o -> {
            setArchitecture(o, "MistralForCausalLM", "mistral");
            o.addProperty("sliding_window", 64); // = max_position_embeddings: masks nothing
        });
        assertArrayEquals(full, lastLogits(dir));
        editConfig(o -> o.addProperty("sliding_window", 3)); // the 6-token prompt's last query sees 3 keys
        assertTrue(ReferenceForwardTest.maxAbsDiff(full, lastLogits(dir)) > 100 * ReferenceForwardTest.TOL);
    }

    @Test
    void slidingWindowOnLlamaIsIgnoredAsTransformersDoes() throws IOException {
        float[] full = lastLogits(dir);
        editConfig(o -> o.addProperty("sliding_window", 3)); // LlamaAttention has no window
        assertArrayEquals(full, lastLogits(dir));
    }

    // ------------------------------------------------------------------ refused keys: one line each, exact

    /** After {@code edit}, loading fails before any weight is read with exactly {@code config.json: problem}. */
    private void refused(Consumer<JsonObject> edit, String problem) throws IOException {
        editConfig(edit);
        Files.delete(st()); // proves no weight is touched: the config alone is refused
        String msg = loadFails(dir, configFile());
        assertEquals(configFile() + ": " + problem, msg);
        assertTrue(!msg.contains("\n"), "one line: " + msg);
    }

    private static JsonObject rope(String typeKey, String type, double factor) {
        JsonObject rs = new JsonObject();
        rs.addProperty(typeKey, type);
        rs.addProperty("factor", factor);
        return rs;
    }

    @Test
    void refusesUnknownArchitecture() throws IOException {
        refused(o -> setArchitecture(o, "Qwen2MoeForCausalLM", "qwen2_moe"), "architectures: 'Qwen2MoeForCausalLM' is"
                + " not supported (supported: LlamaForCausalLM, LayerSkipLlamaForCausalLM, MistralForCausalLM,"
                + " Qwen2ForCausalLM, Qwen3ForCausalLM)");
    }

    @Test
    void refusesOtherActivation() throws IOException {
        refused(o -> o.addProperty("hidden_act", "gelu_pytorch_tanh"),
                "hidden_act: 'gelu_pytorch_tanh' is not supported (only silu is supported)");
    }

    @Test
    void refusesYarn() throws IOException {
        refused(o -> o.add("rope_scaling", rope("rope_type", "yarn", 4.0)),
                "rope_scaling.rope_type: 'yarn' is not supported (supported: default, linear, dynamic, llama3)");
    }

    @Test
    void refusesLongropeUnderTheLegacyTypeKey() throws IOException {
        refused(o -> o.add("rope_scaling", rope("type", "longrope", 4.0)),
                "rope_scaling.rope_type: 'longrope' is not supported (supported: default, linear, dynamic, llama3)");
    }

    @Test
    void refusesYarnInTransformers5RopeParameters() throws IOException {
        refused(o -> {
            JsonObject rp = rope("rope_type", "yarn", 4.0);
            rp.addProperty("rope_theta", 1e6);
            o.add("rope_parameters", rp);
        }, "rope_parameters.rope_type: 'yarn' is not supported (supported: default, linear, dynamic, llama3)");
    }

    @Test
    void refusesRopeScalingWithoutType() throws IOException {
        refused(o -> {
            JsonObject rs = new JsonObject();
            rs.addProperty("factor", 8.0);
            o.add("rope_scaling", rs);
        }, "rope_scaling: no rope_type (or type) in {\"factor\":8.0}");
    }

    @Test
    void refusesLlama3ScalingWithoutItsFactors() throws IOException {
        refused(o -> o.add("rope_scaling", rope("rope_type", "llama3", 8.0)),
                "rope_scaling: missing low_freq_factor for rope_type llama3");
    }

    @Test
    void refusesDynamicScalingBeyondTheTrainedContext() throws IOException {
        refused(o -> {
            JsonObject rs = rope("rope_type", "dynamic", 2.0);
            rs.addProperty("original_max_position_embeddings", 32);
            o.add("rope_scaling", rs);
        }, "rope_scaling.original_max_position_embeddings: 32 differs from max_position_embeddings 64 (dynamic"
                + " scaling beyond the trained context is not supported)");
    }

    @Test
    void refusesMixtureOfExpertsNumExperts() throws IOException {
        refused(o -> o.addProperty("num_experts", 64),
                "num_experts: 64 is not supported (mixture-of-experts models are not supported)");
    }

    @Test
    void refusesMixtureOfExpertsNumLocalExperts() throws IOException {
        refused(o -> {
            setArchitecture(o, "MistralForCausalLM", "mistral"); // Mixtral's keys on a Mistral architecture
            o.addProperty("num_local_experts", 8);
        }, "num_local_experts: 8 is not supported (mixture-of-experts models are not supported)");
    }

    @Test
    void refusesQuantizedCheckpoints() throws IOException {
        refused(o -> {
            JsonObject q = new JsonObject();
            q.addProperty("quant_method", "awq");
            q.addProperty("bits", 4);
            o.add("quantization_config", q);
        }, "quantization_config: quant_method 'awq' is not supported (quantized checkpoints are not supported)");
    }

    @Test
    void refusesPartialRotary() throws IOException {
        refused(o -> o.addProperty("partial_rotary_factor", 0.5),
                "partial_rotary_factor: 0.5 is not supported (only 1.0)");
    }

    @Test
    void refusesMlpBias() throws IOException {
        refused(o -> o.addProperty("mlp_bias", true),
                "mlp_bias: true is not supported (MLP projections without biases only)");
    }

    @Test
    void refusesQwenSlidingWindowOnSomeLayersOnly() throws IOException {
        refused(o -> {
            setArchitecture(o, "Qwen3ForCausalLM", "qwen3");
            o.addProperty("use_sliding_window", true);
            o.addProperty("sliding_window", 4);
            o.addProperty("max_window_layers", 1);
        }, "use_sliding_window: true with max_window_layers 1 slides 1 of 2 layers (a sliding window of 4 on some"
                + " layers only is not supported)");
    }

    @Test
    void refusesMixedLayerTypes() throws IOException {
        refused(o -> {
            setArchitecture(o, "Qwen2ForCausalLM", "qwen2");
            o.addProperty("sliding_window", 4);
            JsonArray types = new JsonArray();
            types.add("full_attention");
            types.add("sliding_attention");
            o.add("layer_types", types);
        }, "layer_types: 1 of 2 layers use sliding_attention (a sliding window of 4 on some layers only is not"
                + " supported)");
    }

    @Test
    void invalidKvHeadsFromConstructor() throws IOException {
        // LlamaConfig's constructor throws IllegalArgumentException; load wraps it with the file name
        editConfig(o -> o.addProperty("num_key_value_heads", 3));
        loadFails(dir, configFile(), "num_key_value_heads", "3");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LlamaConfig(32, 64, 2, 4, 3, 8, 1e-5f, 500f, 40, 64, false, 0, List.of(1)));
        assertTrue(e.getMessage().contains("num_key_value_heads"), e.getMessage());
    }

    @Test
    void missingRequiredField() throws IOException {
        editConfig(o -> o.remove("intermediate_size"));
        loadFails(dir, configFile(), "intermediate_size");
    }

    @Test
    void configNotJson() throws IOException {
        Files.writeString(configFile(), "{ not json");
        loadFails(dir, configFile(), "JSON");
    }

    // ------------------------------------------------------------------ variants that must load

    @Test
    void qwen2StyleConfigWithHarmlessFieldsLoads() throws IOException {
        // the Llama weights plus zero q/k/v biases (Qwen2's layout): the same logits
        float[] want = lastLogits(dir);
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>(tensors);
        for (int l = 0; l < CFG.numHiddenLayers(); l++) {
            t.put("model.layers." + l + ".self_attn.q_proj.bias", new Safetensors.Tensor(new float[32], 32));
            t.put("model.layers." + l + ".self_attn.k_proj.bias", new Safetensors.Tensor(new float[16], 16));
            t.put("model.layers." + l + ".self_attn.v_proj.bias", new Safetensors.Tensor(new float[16], 16));
        }
        Safetensors.write(st(), t, "F32");
        editConfig(o -> {
            setArchitecture(o, "Qwen2ForCausalLM", "qwen2");
            o.addProperty("use_sliding_window", false);
            o.addProperty("sliding_window", 4);
            o.addProperty("max_window_layers", 2);
            o.addProperty("use_cache", true);
            o.addProperty("torch_dtype", "bfloat16");
            o.addProperty("transformers_version", "4.44.0");
        });
        assertArrayEquals(want, lastLogits(dir));
    }

    @Test
    void mistralStyleConfigWithNullSlidingWindowLoads() throws IOException {
        float[] want = lastLogits(dir);
        editConfig(o -> {
            setArchitecture(o, "MistralForCausalLM", "mistral");
            o.add("sliding_window", JsonNull.INSTANCE);
        });
        assertArrayEquals(want, lastLogits(dir));
    }

    @Test
    void llamaConfigOverACheckpointWithBiasesIsRefused() throws IOException {
        // Qwen2 weights under a Llama config.json: silently dropping the biases would give wrong logits
        String name = "model.layers.0.self_attn.q_proj.bias";
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>(tensors);
        t.put(name, new Safetensors.Tensor(new float[32], 32));
        Safetensors.write(st(), t, "F32");
        assertEquals(st() + ": 1 tensor not used by config.json (LlamaForCausalLM, 2 layers, tie_word_embeddings"
                + " false): " + name, loadFails(dir, st()));
    }

    @Test
    void qwen2ConfigOverACheckpointWithoutBiasesIsRefused() throws IOException {
        editConfig(o -> setArchitecture(o, "Qwen2ForCausalLM", "qwen2"));
        loadFails(dir, st(), "model.layers.0.self_attn.q_proj.bias not found", "Qwen2ForCausalLM", "q/k/v biases");
    }

    @Test
    void shardedCheckpointGivesIdenticalLogits() throws IOException {
        float[] want = lastLogits(dir);
        Files.delete(st());
        Map<String, Safetensors.Tensor> a = new LinkedHashMap<>();
        Map<String, Safetensors.Tensor> b = new LinkedHashMap<>();
        JsonObject weightMap = new JsonObject();
        for (Map.Entry<String, Safetensors.Tensor> e : tensors.entrySet()) {
            boolean first = e.getKey().equals(LlamaWeights.EMBED) || e.getKey().startsWith("model.layers.0.");
            (first ? a : b).put(e.getKey(), e.getValue());
            weightMap.addProperty(e.getKey(), first ? "model-00001-of-00002.safetensors"
                    : "model-00002-of-00002.safetensors");
        }
        Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), a, "F32");
        Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), b, "F32");
        JsonObject index = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("total_size", 0);
        index.add("metadata", meta);
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());

        assertArrayEquals(want, lastLogits(dir));
        // the oracle reads the shards too and agrees
        ReferenceLlama ref = ReferenceLlama.load(dir);
        float[][] r = ref.prefill(PROMPT);
        assertTrue(ReferenceForwardTest.maxAbsDiff(r[r.length - 1], want) <= ReferenceForwardTest.TOL);
    }

    @Test
    void shardIndexPointingAtWrongShard() throws IOException {
        Files.delete(st());
        Safetensors.write(dir.resolve("shard-a.safetensors"), tensors, "F32");
        Safetensors.write(dir.resolve("shard-b.safetensors"),
                Map.of(LlamaWeights.NORM, tensors.get(LlamaWeights.NORM)), "F32");
        JsonObject weightMap = new JsonObject();
        for (String name : tensors.keySet()) {
            weightMap.addProperty(name, name.equals(LlamaWeights.EMBED) ? "shard-b.safetensors"
                    : "shard-a.safetensors");
        }
        JsonObject index = new JsonObject();
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        loadFails(dir, dir.resolve("shard-b.safetensors"), LlamaWeights.EMBED, "not in this shard");
    }

    @Test
    void missingShardFile() throws IOException {
        Files.delete(st());
        JsonObject weightMap = new JsonObject();
        for (String name : tensors.keySet()) {
            weightMap.addProperty(name, "gone.safetensors");
        }
        JsonObject index = new JsonObject();
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        loadFails(dir, dir.resolve("gone.safetensors"), "missing file");
    }
}
