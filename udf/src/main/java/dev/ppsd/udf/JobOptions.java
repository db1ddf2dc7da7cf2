package dev.ppsd.udf;

import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Setting.Kind;
import dev.ppsd.engine.settings.Setting.Scope;
import dev.ppsd.engine.settings.SettingValues;
import dev.ppsd.engine.settings.Settings;

import java.util.List;
import java.util.Map;

/**
 * The Spark face's own settings, beside the engine's table ({@link Settings}): which columns a job reads and writes
 * and what a bad row does. Derived into Spark params, {@code spark.ppsd.*} confs and ppsd-job flags exactly like
 * the engine's settings, and checked by the same {@link Setting} code.
 */
public final class JobOptions extends SettingValues<JobOptions> {
    private static final long serialVersionUID = 1L;

    public static final Setting<String> PROMPT_COL = column("prompt_col", "prompt",
            "input column holding the prompt (string)");
    public static final Setting<String> MESSAGES_COL = column("messages_col", "messages", "input column holding a chat"
            + " (array of struct role, content; optional): where not null it is rendered by the model's chat template"
            + " and used instead of the prompt");
    public static final Setting<String> ID_COL = column("id_col", "id", "input column identifying a row (any type;"
            + " optional for the Dataset API): derives the row's seed, names the row in errors and tells a resumed job"
            + " which rows are done. Without it the prompt text is the seed key");
    public static final Setting<String> GENERATED_TEXT_COL = column("generated_text_col", "generated_text",
            "output column: the generated text");
    public static final Setting<String> FINISH_REASON_COL = column("finish_reason_col", "finish_reason",
            "output column: eos, stop or length");
    public static final Setting<String> STOP_REASON_COL = column("stop_reason_col", "stop_reason",
            "output column: the stop string, or the stop token id, that ended a row with finish_reason stop");
    public static final Setting<String> PROMPT_TOKENS_COL = column("prompt_tokens_col", "prompt_tokens",
            "output column: prompt tokens as fed to the model");
    public static final Setting<String> NEW_TOKENS_COL = column("new_tokens_col", "new_tokens",
            "output column: generated tokens");
    public static final Setting<String> ACCEPTANCE_COL = column("acceptance_col", "acceptance",
            "output column: drafts accepted / proposed (null without drafts)");
    public static final Setting<String> TOKENS_PER_S_COL = column("tokens_per_s_col", "tokens_per_s",
            "output column: generated tokens per second of the row");
    public static final Setting<String> ERROR_COL = column("error_col", "error",
            "output column: why the row failed (null when it succeeded)");
    public static final Setting<String> INCOMPLETE_COL = column("incomplete_col", "incomplete",
            "output column (with a guided_* constraint): whether the text fails to satisfy it (the budget ended it"
                    + " first)");
    public static final Setting<String> SAMPLE_INDEX_COL = column("sample_index_col", "sample_index",
            "output column (when n > 1): which of the row's samples the output row is");
    public static final Setting<String> TOKEN_LOGPROBS_COL = column("token_logprobs_col", "token_logprobs",
            "output column (when logprobs > 0): per generated token, struct token_id, token, logprob, top_logprobs");
    public static final Setting<String> PROMPT_TOKEN_LOGPROBS_COL = column("prompt_token_logprobs_col",
            "prompt_token_logprobs", "output column (when prompt_logprobs > 0): the same per prompt token after the"
                    + " first");
    public static final Setting<Boolean> FAIL_ON_ERROR = Settings.define("fail_on_error", Kind.BOOLEAN, false, "B",
            null, null, "true: the first bad row fails the job (naming its id); false: a bad row gets a message in the"
                    + " error column and the others are generated");

    /** The Spark face's settings, in help order. */
    public static final List<Setting<?>> TABLE = List.of(PROMPT_COL, MESSAGES_COL, ID_COL, GENERATED_TEXT_COL,
            FINISH_REASON_COL, STOP_REASON_COL, PROMPT_TOKENS_COL, NEW_TOKENS_COL, ACCEPTANCE_COL, TOKENS_PER_S_COL,
            ERROR_COL, INCOMPLETE_COL, SAMPLE_INDEX_COL, TOKEN_LOGPROBS_COL, PROMPT_TOKEN_LOGPROBS_COL, FAIL_ON_ERROR);

    private static final JobOptions DEFAULTS = new JobOptions(Map.of());

    private JobOptions(Map<String, Object> values) {
        super(values);
    }

    /** Every setting at its default. */
    public static JobOptions defaults() {
        return DEFAULTS;
    }

    @Override
    protected Scope scope() {
        return Scope.JOB;
    }

    @Override
    protected JobOptions make(Map<String, Object> values) {
        return new JobOptions(values);
    }

    /**
     * The result column names, in output order, with the optional columns: whether a guided row's text is
     * incomplete (when rows may have a constraint), the sample index (when rows may have several samples) and the
     * log-probabilities (when asked for).
     */
    public OutputColumns output(boolean guided, boolean samples, boolean tokenLogprobs, boolean promptTokenLogprobs) {
        return new OutputColumns(get(GENERATED_TEXT_COL), get(FINISH_REASON_COL), get(STOP_REASON_COL),
                get(PROMPT_TOKENS_COL), get(NEW_TOKENS_COL), get(ACCEPTANCE_COL), get(TOKENS_PER_S_COL),
                get(ERROR_COL), guided ? get(INCOMPLETE_COL) : null, samples ? get(SAMPLE_INDEX_COL) : null,
                tokenLogprobs ? get(TOKEN_LOGPROBS_COL) : null,
                promptTokenLogprobs ? get(PROMPT_TOKEN_LOGPROBS_COL) : null);
    }

    /** The settings that name an output column, in output order. */
    public static List<Setting<String>> outputSettings() {
        return List.of(GENERATED_TEXT_COL, FINISH_REASON_COL, STOP_REASON_COL, PROMPT_TOKENS_COL, NEW_TOKENS_COL,
                ACCEPTANCE_COL, TOKENS_PER_S_COL, ERROR_COL, INCOMPLETE_COL, SAMPLE_INDEX_COL, TOKEN_LOGPROBS_COL,
                PROMPT_TOKEN_LOGPROBS_COL);
    }

    private static Setting<String> column(String name, String dflt, String doc) {
        return Settings.define(name, Kind.STRING, dflt, "COL", "a column name", s -> !s.isBlank(), doc);
    }
}
