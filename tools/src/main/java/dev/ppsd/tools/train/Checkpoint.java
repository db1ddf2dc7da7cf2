package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A resumable training checkpoint folder: {@code params.safetensors} (weights and optimizer moments, F32)
 * and {@code state.json} (step, model config). Written to a temporary folder and renamed into place, so a
 * kill at any moment leaves the previous checkpoint intact.
 */
final class Checkpoint {
    private Checkpoint() {
    }

    static void save(Path dir, int step, LlamaConfig config, Map<String, NDArray> tensors) throws IOException {
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        tensors.forEach((k, v) -> t.put(k, new Safetensors.Tensor(v.toFloatArray(), v.getShape().getShape())));
        Safetensors.write(tmp.resolve("params.safetensors"), t, "F32");
        JsonObject state = new JsonObject();
        state.addProperty("step", step);
        state.add("config", config.toJson());
        Files.writeString(tmp.resolve("state.json"), new GsonBuilder().setPrettyPrinting().create().toJson(state),
                StandardCharsets.UTF_8);
        Path old = dir.resolveSibling(dir.getFileName() + ".old");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    /** The newest complete checkpoint folder under {@code dir}'s name, or null. */
    static Path find(Path dir) {
        for (Path p : new Path[] {dir, dir.resolveSibling(dir.getFileName() + ".old")}) {
            if (Files.isRegularFile(p.resolve("state.json")) && Files.isRegularFile(p.resolve("params.safetensors"))) {
                return p;
            }
        }
        return null;
    }

    static int step(Path ckpt) throws IOException {
        return JsonParser.parseString(Files.readString(ckpt.resolve("state.json"))).getAsJsonObject().get("step")
                .getAsInt();
    }

    /** Fails with the field that differs when the checkpoint was made for another model shape. */
    static void checkSameShape(Path ckpt, LlamaConfig wanted) throws IOException {
        Path file = ckpt.resolve("state.json");
        LlamaConfig had = LlamaConfig.fromJson(JsonParser.parseString(Files.readString(file)).getAsJsonObject()
                .getAsJsonObject("config"));
        JsonObject a = had.toJson();
        JsonObject b = wanted.toJson();
        for (String k : b.keySet()) {
            if (!b.get(k).equals(a.get(k))) {
                throw new IllegalArgumentException(file + ": checkpoint was made with " + k + "=" + a.get(k)
                        + " but this run asks for " + k + "=" + b.get(k)
                        + " (use another --out, or the same model shape)");
            }
        }
    }

    /** Copies every checkpointed tensor into the matching live array (same name and shape). */
    static void restore(Path ckpt, Map<String, NDArray> live) {
        try (Safetensors.Reader r = Safetensors.open(ckpt.resolve("params.safetensors"))) {
            for (Map.Entry<String, NDArray> e : live.entrySet()) {
                if (!r.tensors().containsKey(e.getKey())) {
                    throw new IllegalArgumentException(r.file() + ": checkpoint has no tensor " + e.getKey());
                }
                e.getValue().set(r.readFloats(e.getKey()));
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
