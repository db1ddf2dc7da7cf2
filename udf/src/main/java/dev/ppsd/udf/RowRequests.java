package dev.ppsd.udf;

import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.decode.GenerationRequest;
import org.apache.spark.sql.Row;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;

import java.util.ArrayList;
import java.util.List;
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
     * Builds the request of one row from its prompt, or its chat {@code messages} where not null (then the prompt is
     * ignored). {@code id} may be null (no id column, or a null id): the prompt (or the chat) is then the seed key,
     * and the request id is {@code label}. {@code own} holds the row's values of request settings (a per-row column,
     * an SQL option), any form {@link Setting#coerce} takes; the job's values fill in the rest. The row's seed is its
     * own {@code seed} when given, else {@link RowSeeds#forRow}{@code (job seed, id or prompt or chat)}.
     */
    static Prepared prepare(JobSettings s, String id, String label, String prompt, List<ChatMessage> messages,
            Map<Setting<?>, Object> own) {
        if (prompt == null && messages == null) {
            return Prepared.bad(label, "prompt is null");
        }
        String key = id != null ? id : messages != null ? messages.toString() : prompt;
        SamplingParams p = s.defaults().with(Settings.SEED, RowSeeds.forRow(s.defaults().get(Settings.SEED), key));
        try {
            for (Map.Entry<Setting<?>, Object> e : own.entrySet()) {
                p = p.withValue(e.getKey(), e.getValue());
            }
        } catch (IllegalArgumentException e) {
            return Prepared.bad(label, e.getMessage());
        }
        String rid = id != null ? id : label;
        return new Prepared(label, messages != null ? GenerationRequest.chat(rid, messages, p)
                : new GenerationRequest(rid, prompt, p), null);
    }

    /**
     * The chat of a {@code messages} cell (array of struct role, content, as Spark hands it: a list of rows), or
     * null for a null cell; a null element or field is named by its index ({@code messages[1].role is null}).
     */
    static List<ChatMessage> messages(List<Row> cell) {
        if (cell == null) {
            return null;
        }
        List<ChatMessage> out = new ArrayList<>(cell.size());
        for (int i = 0; i < cell.size(); i++) {
            Row m = cell.get(i);
            if (m == null) {
                throw new IllegalArgumentException("messages[" + i + "] is null");
            }
            for (String f : List.of("role", "content")) {
                if (m.isNullAt(m.fieldIndex(f))) {
                    throw new IllegalArgumentException("messages[" + i + "]." + f + " is null");
                }
            }
            out.add(new ChatMessage(m.getAs("role"), m.getAs("content")));
        }
        return out;
    }
}
