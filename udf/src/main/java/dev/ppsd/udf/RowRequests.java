package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;

import java.util.Map;

/**
 * Turns one input row (prompt, id, the row's own values of request settings) into an engine request, or into the
 * message that says why it cannot run. Shared by the Dataset API and the SQL function, so both report the same
 * messages: {@code prompt is null} here, the settings table's own checks
 * ({@code max_new_tokens must be >= 0 but was -3}, ...) and the engine's ({@code prompt is empty}, prompt too long)
 * in the row's result.
 */
final class RowRequests {
    private RowRequests() {
    }

    /** A row ready for the engine ({@code request} set) or failed ({@code error} set); {@code label} names it. */
    record Prepared(String label, GenerationRequest request, String error) {
        static Prepared bad(String label, String error) {
            return new Prepared(label, null, error);
        }

        boolean isOk() {
            return error == null;
        }
    }

    /**
     * Builds the request of one row. {@code id} may be null (no id column, or a null id): the prompt is then the
     * seed key, and the request id is {@code label}. {@code own} holds the row's values of request settings (a
     * per-row column, an SQL option), any form {@link Setting#coerce} takes; the job's values fill in the rest. The
     * row's seed is its own {@code seed} when given, else {@link RowSeeds#forRow}{@code (job seed, id or prompt)}.
     */
    static Prepared prepare(JobSettings s, String id, String label, String prompt, Map<Setting<?>, Object> own) {
        if (prompt == null) {
            return Prepared.bad(label, "prompt is null");
        }
        SamplingParams p = s.defaults().with(Settings.SEED,
                RowSeeds.forRow(s.defaults().get(Settings.SEED), id != null ? id : prompt));
        try {
            for (Map.Entry<Setting<?>, Object> e : own.entrySet()) {
                p = p.withValue(e.getKey(), e.getValue());
            }
        } catch (IllegalArgumentException e) {
            return Prepared.bad(label, e.getMessage());
        }
        return new Prepared(label, new GenerationRequest(id != null ? id : label, prompt, p), null);
    }
}
