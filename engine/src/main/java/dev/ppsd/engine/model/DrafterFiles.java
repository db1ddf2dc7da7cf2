package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The files of a drafter folder beside a model ({@code exit_head*}, {@code spd_head}): {@code config.json} (the base
 * config with the drafter's own layers, plus the drafter's fields) and {@code model.safetensors} (float32).
 */
final class DrafterFiles {
    private DrafterFiles() {
    }

    /** {@code dir/config.json}; a missing or unreadable file is a {@link ModelLoadException} naming it. */
    static JsonObject readConfig(Path dir, String missing) {
        Path f = dir.resolve("config.json");
        try {
            return JsonParser.parseString(Files.readString(f)).getAsJsonObject();
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(f, "missing file (" + missing + ")");
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(f, "cannot read: " + e.getMessage(), e);
        }
    }

    /** Writes {@code config} and {@code tensors} (float32) into {@code dir}. */
    static void write(Path dir, JsonObject config, Map<String, NDArray> tensors) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"),
                new GsonBuilder().setPrettyPrinting().create().toJson(config) + "\n", StandardCharsets.UTF_8);
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        tensors.forEach((k, v) -> t.put(k, new Safetensors.Tensor(LlamaWeights.floats(v), v.getShape().getShape())));
        Safetensors.write(dir.resolve("model.safetensors"), t, "F32");
    }

    /** "{@code what} was built for another model (hidden_size ..., vocab_size ..., N layers) but the model has ...". */
    static String builtForAnother(String what, LlamaConfig head, int headBaseLayers, LlamaConfig base) {
        return what + " was built for another model (hidden_size " + head.hiddenSize() + ", vocab_size "
                + head.vocabSize() + ", " + headBaseLayers + " layers) but the model has hidden_size "
                + base.hiddenSize() + ", vocab_size " + base.vocabSize() + ", " + base.numHiddenLayers() + " layers";
    }
}
