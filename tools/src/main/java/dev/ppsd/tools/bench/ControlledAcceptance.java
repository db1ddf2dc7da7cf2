package dev.ppsd.tools.bench;

import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Makes a controlled-acceptance copy of a model: the residual-branch output projections ({@code o_proj},
 * {@code down_proj}) of every layer at or after E are scaled by s. With the shared exit head at E, s = 0
 * makes the final output equal the layer-E state (acceptance 1) and larger s moves the late layers'
 * contribution further from the draft, lowering acceptance — a dial for sweeping α on a real model.
 */
public final class ControlledAcceptance {
    private ControlledAcceptance() {
    }

    /** Writes {@code base} with layers {@code >= fromLayer} scaled by {@code scale} into {@code out}. */
    public static Path write(Path base, Path out, int fromLayer, float scale) throws IOException {
        Files.createDirectories(out);
        for (String f : new String[] {"config.json", "tokenizer.json"}) {
            Files.copy(base.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        Map<String, Safetensors.Tensor> tensors = new LinkedHashMap<>();
        try (Safetensors.Reader r = Safetensors.open(base.resolve("model.safetensors"))) {
            for (Safetensors.TensorInfo t : r.tensors().values()) {
                float[] v = r.readFloats(t.name());
                if (scaled(t.name(), fromLayer)) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] *= scale;
                    }
                }
                tensors.put(t.name(), new Safetensors.Tensor(v, t.shape()));
            }
        }
        Safetensors.write(out.resolve("model.safetensors"), tensors, "F32");
        return out;
    }

    private static boolean scaled(String name, int fromLayer) {
        if (!name.startsWith("model.layers.")) {
            return false;
        }
        int layer = Integer.parseInt(name.substring("model.layers.".length(), name.indexOf('.', "model.layers.".length())));
        return layer >= fromLayer && (name.endsWith("o_proj.weight") || name.endsWith("down_proj.weight"));
    }
}
