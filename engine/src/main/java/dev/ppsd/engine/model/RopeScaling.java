package dev.ppsd.engine.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.List;

/**
 * The {@code rope_scaling} object of a Hugging Face {@code config.json} (or the scaling part of transformers 5's
 * {@code rope_parameters}): which kind and its parameters. {@link Rope} turns it into inverse frequencies.
 * <ul>
 *   <li>{@code default}: plain RoPE ({@link #NONE}).</li>
 *   <li>{@code linear}: every inverse frequency divided by {@code factor}.</li>
 *   <li>{@code dynamic} (NTK): transformers rescales the base only once the sequence grows past
 *       {@code max_position_embeddings}; the engine's context is {@code max_position_embeddings}, so for every
 *       position it can run the frequencies are the unscaled ones, exactly what transformers computes for those
 *       lengths (choice: the context is not extended beyond {@code max_position_embeddings}).</li>
 *   <li>{@code llama3}: Llama 3.1's wavelength-dependent scaling ({@code factor}, {@code low_freq_factor},
 *       {@code high_freq_factor}, {@code original_max_position_embeddings}).</li>
 * </ul>
 * Anything else ({@code yarn}, {@code longrope}, ...) is refused when the config is read.
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
        int originalMaxPositionEmbeddings) {

    /** The kinds the engine implements. */
    public static final List<String> TYPES = List.of("default", "linear", "dynamic", "llama3");

    /** Plain RoPE. */
    public static final RopeScaling NONE = new RopeScaling("default", 1, 0, 0, 0);

    public RopeScaling {
        require(TYPES.contains(type), "rope_scaling.rope_type: '" + type + "' is not supported (supported: "
                + String.join(", ", TYPES) + ")");
        if (!type.equals("default")) {
            require(factor > 0, "rope_scaling.factor: must be > 0 but was " + factor);
        }
        if (type.equals("llama3")) {
            require(originalMaxPositionEmbeddings > 0, "rope_scaling.original_max_position_embeddings: must be > 0"
                    + " but was " + originalMaxPositionEmbeddings);
            require(highFreqFactor > lowFreqFactor && lowFreqFactor > 0, "rope_scaling.high_freq_factor ("
                    + highFreqFactor + ") must be > low_freq_factor (" + lowFreqFactor + ") > 0");
        }
    }

    /** A Llama 3.1-style scaling. */
    public static RopeScaling llama3(double factor, double low, double high, int originalMax) {
        return new RopeScaling("llama3", factor, low, high, originalMax);
    }

    /** {@code linear} or {@code dynamic} with {@code factor}. */
    public static RopeScaling of(String type, double factor) {
        return new RopeScaling(type, factor, 0, 0, 0);
    }

    /**
     * Parses a {@code rope_scaling} object ({@code rope_type}, or the legacy {@code type}); null or JSON null is
     * {@link #NONE}. {@code maxPositionEmbeddings} is the config's: {@code dynamic} with a different
     * {@code original_max_position_embeddings} is refused (transformers versions disagree on which one it uses).
     * Throws IllegalArgumentException naming the key and value.
     */
    public static RopeScaling fromJson(JsonElement e, String key, int maxPositionEmbeddings) {
        if (e == null || e.isJsonNull()) {
            return NONE;
        }
        require(e.isJsonObject(), key + ": must be an object or null but was " + e);
        JsonObject o = e.getAsJsonObject();
        JsonElement t = o.has("rope_type") ? o.get("rope_type") : o.get("type");
        require(t != null && t.isJsonPrimitive(), key + ": no rope_type (or type) in " + o);
        String type = t.getAsString();
        require(TYPES.contains(type), key + ".rope_type: '" + type + "' is not supported (supported: "
                + String.join(", ", TYPES) + ")");
        if (type.equals("default")) {
            return NONE;
        }
        double factor = number(o, key, "factor");
        if (type.equals("llama3")) {
            return llama3(factor, number(o, key, "low_freq_factor"), number(o, key, "high_freq_factor"),
                    (int) number(o, key, "original_max_position_embeddings"));
        }
        if (type.equals("dynamic") && o.has("original_max_position_embeddings")
                && !o.get("original_max_position_embeddings").isJsonNull()) {
            int orig = (int) number(o, key, "original_max_position_embeddings");
            require(orig == maxPositionEmbeddings, key + ".original_max_position_embeddings: " + orig
                    + " differs from max_position_embeddings " + maxPositionEmbeddings
                    + " (dynamic scaling beyond the trained context is not supported)");
        }
        return of(type, factor);
    }

    /** As written into {@code config.json}: null for {@link #NONE}. */
    public JsonObject toJson() {
        if (this.equals(NONE)) {
            return null;
        }
        JsonObject o = new JsonObject();
        o.addProperty("factor", factor);
        if (type.equals("llama3")) {
            o.addProperty("low_freq_factor", lowFreqFactor);
            o.addProperty("high_freq_factor", highFreqFactor);
            o.addProperty("original_max_position_embeddings", originalMaxPositionEmbeddings);
        }
        o.addProperty("rope_type", type);
        return o;
    }

    /**
     * The inverse frequencies {@code [hd/2]} for {@code theta}: {@code theta^(-2i/hd)} (computed in double, rounded
     * to float once, exactly as before scaling existed), then scaled by this kind.
     */
    float[] inverseFrequencies(double theta, int headDim) {
        float[] out = new float[headDim / 2];
        for (int i = 0; i < out.length; i++) {
            double f = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
            out[i] = (float) switch (type) {
                case "linear" -> f / factor;
                case "llama3" -> llama3(f);
                default -> f; // default; dynamic within max_position_embeddings
            };
        }
        return out;
    }

    /**
     * Llama 3.1: wavelengths shorter than {@code original / high_freq_factor} keep their frequency, longer than
     * {@code original / low_freq_factor} are divided by {@code factor}, and those between are interpolated.
     */
    private double llama3(double invFreq) {
        double wavelen = 2 * Math.PI / invFreq;
        double lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
        double highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
        if (wavelen < highFreqWavelen) {
            return invFreq;
        }
        if (wavelen > lowFreqWavelen) {
            return invFreq / factor;
        }
        double smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * invFreq / factor + smooth * invFreq;
    }

    private static double number(JsonObject o, String key, String field) {
        JsonElement e = o.get(field);
        require(e != null && !e.isJsonNull(), key + ": missing " + field + " for rope_type " + (o.has("rope_type")
                ? o.get("rope_type").getAsString() : o.get("type").getAsString()));
        try {
            return e.getAsDouble();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException(key + "." + field + ": must be a number but was " + e);
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
