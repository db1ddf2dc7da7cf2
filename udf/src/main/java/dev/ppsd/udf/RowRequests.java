package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns one input row (prompt, id, optional per-row settings) into an engine request, or into the message that
 * says why it cannot run. Shared by the Dataset API and the SQL function so both report the same messages:
 * {@code prompt is null}, {@code prompt is empty}, the engine's own {@link SamplingParams} checks
 * ({@code max_new_tokens must be >= 0 but was -3}, {@code temperature must be >= 0 but was -1.0},
 * {@code top_p must be in (0, 1] but was 1.5}, ...) and, with the model at hand, prompt-too-long.
 */
public final class RowRequests {
    /** Per-row override columns (Dataset) and options-map keys (SQL). */
    public static final String MAX_NEW_TOKENS = "max_new_tokens";
    public static final String TEMPERATURE = "temperature";
    public static final String TOP_K = "top_k";
    public static final String TOP_P = "top_p";
    public static final String SEED = "seed";
    public static final String STOP = "stop";
    public static final List<String> OVERRIDES = List.of(MAX_NEW_TOKENS, TEMPERATURE, TOP_K, TOP_P, SEED, STOP);

    /** Slack for specials (BOS, ...) in the "surely fits" shortcut of {@link #fit}. */
    private static final int SPECIAL_TOKENS_SLACK = 8;

    private RowRequests() {
    }

    /** Per-row settings; null fields fall back to the job's. */
    record Overrides(Long maxNewTokens, Double temperature, Long topK, Double topP, Long seed, List<String> stop) {
        static final Overrides NONE = new Overrides(null, null, null, null, null, null);
    }

    /** A row ready for the engine ({@code request} set) or failed ({@code error} set); {@code label} names it. */
    record Prepared(String label, GenerationRequest request, String error) {
        static Prepared ok(String label, GenerationRequest r) {
            return new Prepared(label, r, null);
        }

        static Prepared bad(String label, String error) {
            return new Prepared(label, null, error);
        }

        boolean isOk() {
            return error == null;
        }
    }

    /**
     * Builds the request of one row. {@code id} may be null (no id column, or a null id): the prompt is then the
     * seed key. The request id is {@code id}, or {@code label} without an id.
     */
    static Prepared prepare(PpsdSettings s, String id, String label, String prompt, Overrides o) {
        if (prompt == null) {
            return Prepared.bad(label, "prompt is null");
        }
        if (prompt.isEmpty()) {
            return Prepared.bad(label, "prompt is empty");
        }
        List<String> stop = o.stop() != null ? o.stop() : s.stop();
        for (String x : stop) {
            if (x == null) {
                return Prepared.bad(label, "stop strings must not be null");
            }
        }
        long seed = o.seed() != null ? o.seed() : RowSeeds.forRow(s.seed(), id != null ? id : prompt);
        try {
            SamplingParams p = SamplingParams.greedy(clampToInt(o.maxNewTokens() != null ? o.maxNewTokens() : s.maxNewTokens())).withValue(Settings.TEMPERATURE, (float) (o.temperature() != null ? o.temperature() : s.temperature())).withValue(Settings.TOP_K, clampToInt(o.topK() != null ? o.topK() : s.topK())).withValue(Settings.TOP_P, (float) (o.topP() != null ? o.topP() : s.topP())).withValue(Settings.SEED, seed).withValue(Settings.STOP, stop);
            return Prepared.ok(label, new GenerationRequest(id != null ? id : label, prompt, p));
        } catch (IllegalArgumentException e) {
            return Prepared.bad(label, e.getMessage());
        }
    }

    /**
     * Applies the prompt-too-long policy with the engine's tokenizer. A prompt fits when its token count (BOS
     * included) is below the model's context C. Otherwise {@code error} fails the row, and {@code truncate}
     * keeps the END of the prompt: the longest suffix (cut at a character) that has at most
     * {@code C - min(max(max_new_tokens, 1), C / 2)} tokens, so the generation still has room.
     */
    static Prepared fit(Prepared p, SharedEngine engine, String policy) {
        if (!p.isOk()) {
            return p;
        }
        String prompt = p.request().prompt();
        int context = engine.contextLength();
        // every token covers at least one UTF-8 byte, so a short prompt fits without tokenizing it
        if (prompt.getBytes(StandardCharsets.UTF_8).length + SPECIAL_TOKENS_SLACK < context) {
            return p;
        }
        int n = engine.countTokens(prompt);
        if (n < context) {
            return p;
        }
        if (!policy.equals(PpsdConf.TRUNCATE)) {
            return Prepared.bad(p.label(), "prompt has " + n + " tokens but the model's context is " + context
                    + " (max_position_embeddings); set promptTooLong=truncate to keep its end");
        }
        int keep = context - Math.min(Math.max(p.request().params().get(Settings.MAX_NEW_TOKENS), 1), context / 2);
        String suffix = longestSuffix(prompt, keep, engine);
        if (suffix == null) {
            return Prepared.bad(p.label(), "prompt has " + n + " tokens and cannot be cut to " + keep + " tokens");
        }
        GenerationRequest r = p.request();
        return Prepared.ok(p.label(), new GenerationRequest(r.id(), suffix, r.params()));
    }

    /** The longest suffix of {@code text} with at most {@code maxTokens} tokens (binary search on the start). */
    private static String longestSuffix(String text, int maxTokens, SharedEngine engine) {
        int tooLong = 0;
        int fits = text.length();
        while (fits - tooLong > 1) {
            int mid = (tooLong + fits) >>> 1;
            if (engine.countTokens(text.substring(mid)) <= maxTokens) {
                fits = mid;
            } else {
                tooLong = mid;
            }
        }
        // token counts are not strictly monotone in the cut point: step on until the suffix really fits
        for (int start = fits; start < text.length(); start++) {
            if (Character.isLowSurrogate(text.charAt(start))) {
                continue;
            }
            String s = text.substring(start);
            if (engine.countTokens(s) <= maxTokens) {
                return s;
            }
        }
        return null;
    }

    /** The per-row overrides from an SQL options map entry; throws IllegalArgumentException on a bad value. */
    static Overrides withOption(Overrides o, String key, String value) {
        return switch (key) {
            case MAX_NEW_TOKENS -> new Overrides(parseLong(key, value), o.temperature(), o.topK(), o.topP(), o.seed(),
                    o.stop());
            case TEMPERATURE -> new Overrides(o.maxNewTokens(), parseDouble(key, value), o.topK(), o.topP(), o.seed(),
                    o.stop());
            case TOP_K -> new Overrides(o.maxNewTokens(), o.temperature(), parseLong(key, value), o.topP(), o.seed(),
                    o.stop());
            case TOP_P -> new Overrides(o.maxNewTokens(), o.temperature(), o.topK(), parseDouble(key, value), o.seed(),
                    o.stop());
            case SEED -> new Overrides(o.maxNewTokens(), o.temperature(), o.topK(), o.topP(), parseLong(key, value),
                    o.stop());
            case STOP -> new Overrides(o.maxNewTokens(), o.temperature(), o.topK(), o.topP(), o.seed(),
                    value == null ? null : stopList(value));
            default -> throw new IllegalArgumentException("unknown option " + key);
        };
    }

    private static List<String> stopList(String value) {
        List<String> l = new ArrayList<>();
        for (String s : (String[]) PpsdConf.parse(PpsdConf.STOP, value)) {
            l.add(s);
        }
        return l;
    }

    private static Long parseLong(String key, String v) {
        if (v == null) {
            return null;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer but was '" + v + "'");
        }
    }

    private static Double parseDouble(String key, String v) {
        if (v == null) {
            return null;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a number but was '" + v + "'");
        }
    }

    /** Values beyond int keep their sign, so a huge negative budget is still reported as negative. */
    private static int clampToInt(long v) {
        return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
    }
}
