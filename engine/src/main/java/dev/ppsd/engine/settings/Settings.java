package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Kind;
import dev.ppsd.engine.settings.Setting.Scope;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * The settings table: every setting of the engine, one row each, in help order. The CLI flags, the ppsd-job flags,
 * the Spark params and {@code spark.ppsd.*} confs, the SQL function's options and the per-row columns are all
 * derived from these rows (see {@link Setting}); the engine reads values with {@code options.get(Settings.MODE)} /
 * {@code params.get(Settings.TOP_K)}. Adding a setting is one row here plus its use in the engine.
 */
public final class Settings {
    /** Prefix of the Spark conf keys: {@code spark.ppsd.<name>}. */
    public static final String CONF_PREFIX = "spark.ppsd.";

    /** The decoding modes. */
    public static final List<String> MODES = List.of("ar", "ar-pipe", "eesd", "ppsd", "spd");

    private static final Pattern DEVICE = Pattern.compile("(?i)cpu|gpu\\d+|cuda:\\d+");
    private static final Map<String, Setting<?>> BY_NAME = new LinkedHashMap<>();

    // ---- engine: one value per engine ----

    public static final Setting<String> MODEL = add(new Setting<>("model", Kind.STRING, null, Scope.ENGINE, "DIR",
            "a folder path or URI", s -> !s.isBlank(),
            "model folder in the Hugging Face layout (config.json, *.safetensors, tokenizer.json); on Spark also a"
                    + " Hadoop URI (hdfs://, s3a://, ...; copied once per executor) or the name of a folder shipped"
                    + " with addFile / --archives"));
    public static final Setting<String> MODE = add(choice("mode", "ppsd", Scope.ENGINE, "M", MODES,
            "decoding mode: ar (plain autoregressive), ar-pipe (the same pipeline without drafts), eesd (early-exit"
                    + " draft-then-verify), ppsd (pipelined verify-while-draft), spd (the ppsd pipeline drafting"
                    + " with the SPD head in MODEL/spd_head, beside the stages)"));
    public static final Setting<String> DTYPE = add(choice("dtype", "auto", Scope.ENGINE, "TYPE",
            List.of("auto", "float32", "bfloat16", "float16"), "type of the weights and KV cache on the stages' devices:"
                    + " auto = float32 on a CPU, the checkpoint's torch_dtype on a GPU"));
    public static final Setting<Integer> BATCH_SIZE = add(new Setting<>("batch_size", Kind.INT, 8, Scope.ENGINE, "B",
            ">= 1", b -> b >= 1, "sequences decoded together (on Spark the rows of every task of an executor"
                    + " share them)"));
    public static final Setting<Integer> KV_CACHE_MB = add(new Setting<>("kv_cache_mb", Kind.INT, 0, Scope.ENGINE, "MB",
            ">= 0", m -> m >= 0, "memory for the KV caches of one engine (0 = a quarter of the machine's memory, at most"
                    + " 16 GiB): bounds the batch's caches (80%) and the prefix cache (20%); a request whose prompt and"
                    + " budget cannot fit fails alone"));
    public static final Setting<Boolean> PREFIX_CACHE = add(new Setting<>("prefix_cache", Kind.BOOLEAN, true,
            Scope.ENGINE, "B", null, null, "reuse the KV of prompt prefixes already computed (16-token blocks, least"
                    + " recently used evicted): a shared system prompt or few-shot block is prefilled once"));
    public static final Setting<Integer> PREFILL_TOKENS_PER_CYCLE = add(new Setting<>("prefill_tokens_per_cycle",
            Kind.INT, 128, Scope.ENGINE, "N", ">= 0", n -> n >= 0, "pipelines (ar-pipe, ppsd, spd): prompt tokens that"
                    + " start a cycle (the first waiting prompt always does): rows that end together are refilled over a"
                    + " few cycles, so that the stages prefill side by side rather than one waiting for the other;"
                    + " 0 = no limit"));
    public static final Setting<String> STAGES = add(new Setting<>("stages", Kind.STRING, "auto", Scope.ENGINE, "DEVS",
            "auto or a comma-separated device list such as cpu,cpu or gpu0,gpu1", Settings::isStageList,
            "one device per pipeline stage (cpu or gpuN, comma-separated; ar and eesd run on the first), or auto:"
                    + " num_stages stages on the GPUs"
                    + " this process may use (on Spark: the task's GPUs), else on the CPU"));
    public static final Setting<Integer> NUM_STAGES = add(new Setting<>("num_stages", Kind.INT, 2, Scope.ENGINE, "K",
            ">= 1", k -> k >= 1, "pipeline stages when stages=auto"));
    public static final Setting<String> EXIT_HEAD = add(new Setting<>("exit_head", Kind.STRING, "auto", Scope.ENGINE,
            "H", "auto, shared or a folder", s -> !s.isBlank(),
            "the drafter of ppsd and eesd (spd drafts with MODEL/spd_head): auto (pipelines: the cheapest by the"
                    + " cost model and MODEL/eval.json; eesd: MODEL/exit_head when present, else shared), shared (the"
                    + " model's own LM head after the exit layer) or a folder holding a trained exit head"));
    public static final Setting<Integer> EXIT_LAYER = add(new Setting<>("exit_layer", Kind.INT, 0, Scope.ENGINE, "E",
            ">= 1 (or 0 for the default)", e -> e >= 0,
            "exit layer E of the drafter; 0 = the trained head's, else chosen by exit_head (N/2 without eval.json)"));
    public static final Setting<String> GAMMA = add(new Setting<>("gamma", Kind.STRING, "ts", Scope.ENGINE, "G",
            "a positive integer or 'ts'", g -> g.equals("ts") || isPositiveInt(g),
            "eesd draft length: a number, or ts (Thompson sampling)"));
    public static final Setting<String> SPECULATION = add(choice("speculation", "auto", Scope.ENGINE, "S",
            List.of("auto", "always"), "ppsd and spd: auto (greedy sequences draft only while drafting measures cheaper"
                    + " per token than the pipeline without drafts) or always"));

    // ---- request: may differ per request (per row) ----

    public static final Setting<Integer> MAX_NEW_TOKENS = add(new Setting<>("max_new_tokens", Kind.INT, 64,
            Scope.REQUEST, "N", ">= 0", n -> n >= 0, "token budget (clamped to what the context leaves)"));
    public static final Setting<Double> TEMPERATURE = add(new Setting<>("temperature", Kind.DOUBLE, 0.0, Scope.REQUEST,
            "T", ">= 0", t -> t >= 0 && !t.isInfinite(), "sampling temperature; 0 = greedy"));
    public static final Setting<Integer> TOP_K = add(new Setting<>("top_k", Kind.INT, 0, Scope.REQUEST, "K",
            ">= 0 (0 = off)", k -> k >= 0, "sample among the k most likely tokens; 0 = off"));
    public static final Setting<Double> TOP_P = add(new Setting<>("top_p", Kind.DOUBLE, 1.0, Scope.REQUEST, "P",
            "in (0, 1]", p -> p > 0 && p <= 1, "sample among the most likely tokens of this total probability; 1 = off"));
    public static final Setting<Long> SEED = add(new Setting<>("seed", Kind.LONG, 0L, Scope.REQUEST, "S", null, null,
            "random seed: the same seed gives the same text in the same mode (a Spark job derives each row's seed from"
                    + " it and the row's id; bin/ppsd gives line i of a prompts file seed + i; a per-row seed is used as"
                    + " is), but for a rare near-tie draw that turns on which rows shared the row's engine calls"
                    + " (udf/README.md, Seeds)"));
    public static final Setting<List<String>> STOP = add(new Setting<>("stop", Kind.STRINGS, List.of(), Scope.REQUEST,
            "STR", "non-empty strings", l -> l.stream().noneMatch(String::isEmpty),
            "stop strings: the text ends before the first one generated (as a conf or option: a JSON array, or one"
                    + " string)"));
    public static final Setting<String> PROMPT_TOO_LONG = add(choice("prompt_too_long", "error", Scope.REQUEST, "P",
            List.of("error", "truncate"), "a prompt that does not fit the model's context: error (the request fails)"
                    + " or truncate (keep its first token and its end, so that the budget fits)"));
    public static final Setting<List<String>> GUIDED_CHOICE = add(new Setting<>("guided_choice", Kind.STRINGS,
            List.of(), Scope.REQUEST, "STR", "at least one string, none empty",
            l -> !l.isEmpty() && l.stream().noneMatch(String::isEmpty),
            "guided decoding: the text is exactly one of these strings (as a conf or option: a JSON array); at most one"
                    + " guided_* setting per row"));
    public static final Setting<String> GUIDED_REGEX = add(new Setting<>("guided_regex", Kind.STRING, "",
            Scope.REQUEST, "RE", "empty or a regular expression that is not only blanks",
            r -> r.isEmpty() || !r.isBlank(), "guided decoding: the whole text matches this regular expression"
                    + " (Java/Python syntax without lookaround, backreferences or \\b); empty = none"));
    public static final Setting<String> GUIDED_JSON = add(new Setting<>("guided_json", Kind.STRING, "",
            Scope.REQUEST, "SCHEMA", "empty or a JSON Schema (a JSON object)", Settings::isEmptyOrJsonObject,
            "guided decoding: the text is JSON valid under this JSON Schema (type object / string / integer / number"
                    + " / boolean / null / array; properties, required, enum, pattern, min/maxLength, items,"
                    + " min/maxItems); empty = none"));

    public static final Setting<Integer> MIN_NEW_TOKENS = add(new Setting<>("min_new_tokens", Kind.INT, 0,
            Scope.REQUEST, "N", ">= 0", n -> n >= 0, "EOS and stop_token_ids are held back until this many tokens are"
                    + " generated"));
    public static final Setting<List<Integer>> STOP_TOKEN_IDS = add(new Setting<>("stop_token_ids", Kind.INTS,
            List.of(), Scope.REQUEST, "ID", "non-negative token ids", l -> l.stream().allMatch(i -> i >= 0),
            "token ids that end the text like EOS, kept in it (as a conf or option: a JSON array, or one id)"));
    public static final Setting<Boolean> IGNORE_EOS = add(new Setting<>("ignore_eos", Kind.BOOLEAN, false,
            Scope.REQUEST, "B", null, null, "go on past EOS until the budget or a stop (benchmarks, fixed-length"
                    + " outputs)"));
    public static final Setting<Double> REPETITION_PENALTY = add(new Setting<>("repetition_penalty", Kind.DOUBLE, 1.0,
            Scope.REQUEST, "R", "> 0", r -> r > 0 && !r.isInfinite(), "Hugging Face's: the logit of every token of the"
                    + " prompt or the text so far is divided by R when positive, multiplied when negative (1 = off)"));
    public static final Setting<Double> PRESENCE_PENALTY = add(new Setting<>("presence_penalty", Kind.DOUBLE, 0.0,
            Scope.REQUEST, "P", "in [-2, 2]", p -> p >= -2 && p <= 2, "OpenAI's / vLLM's: P is subtracted from the"
                    + " logit of every token generated so far (0 = off)"));
    public static final Setting<Double> FREQUENCY_PENALTY = add(new Setting<>("frequency_penalty", Kind.DOUBLE, 0.0,
            Scope.REQUEST, "F", "in [-2, 2]", f -> f >= -2 && f <= 2, "OpenAI's / vLLM's: F times its count so far is"
                    + " subtracted from the logit of every token generated (0 = off)"));
    public static final Setting<Integer> LOGPROBS = add(new Setting<>("logprobs", Kind.INT, 0, Scope.REQUEST, "N",
            "in [0, 20]", n -> n >= 0 && n <= 20, "for every generated token its log-probability and the N most likely"
                    + " alternatives, under the row's own distribution (penalties, temperature, top-k, top-p; greedy"
                    + " rows: temperature 1); 0 = off"));
    public static final Setting<Integer> PROMPT_LOGPROBS = add(new Setting<>("prompt_logprobs", Kind.INT, 0,
            Scope.REQUEST, "N", "in [0, 20]", n -> n >= 0 && n <= 20, "for every prompt token after the first its"
                    + " log-probability under the model (temperature 1) and the N most likely alternatives; 0 = off"));
    public static final Setting<Integer> N = add(new Setting<>("n", Kind.INT, 1, Scope.REQUEST, "N", "in [1, 64]",
            n -> n >= 1 && n <= 64, "independent samples per prompt, seeded seed, seed + 1, ...; the prompt is"
                    + " prefilled once (the prefix cache shares it)"));

    private Settings() {
    }

    /** Every setting of the table, in help order. */
    public static List<Setting<?>> all() {
        return List.copyOf(BY_NAME.values());
    }

    /** The settings of one scope, in help order. */
    public static List<Setting<?>> of(Scope scope) {
        List<Setting<?>> out = new ArrayList<>();
        for (Setting<?> s : BY_NAME.values()) {
            if (s.scope() == scope) {
                out.add(s);
            }
        }
        return Collections.unmodifiableList(out);
    }

    /** The setting called {@code name}, or null. */
    public static Setting<?> named(String name) {
        return BY_NAME.get(name);
    }

    /** Every setting name. */
    public static Set<String> names() {
        return Collections.unmodifiableSet(BY_NAME.keySet());
    }

    /**
     * The settings as a Markdown table (name, command-line flag, default, where it may vary, doc), as the READMEs show
     * it; tests check that each README carries its table as this method writes it.
     */
    public static String markdown(List<Setting<?>> settings) {
        StringBuilder s = new StringBuilder("| setting | flag | default | varies | what |\n| --- | --- | --- | --- | --- |\n");
        for (Setting<?> st : settings) {
            String dflt = st.defaultValue() == null ? "(required)" : "`" + format(st) + "`";
            String varies = switch (st.scope()) {
                case ENGINE -> "per engine";
                case REQUEST -> "per row";
                case JOB -> "per job";
            };
            s.append("| `").append(st.name()).append("` | `").append(st.flag()).append("` | ").append(dflt)
                    .append(" | ").append(varies).append(" | ").append(st.doc().replace("|", "\\|")).append(" |\n");
        }
        return s.toString();
    }

    private static <T> String format(Setting<T> s) {
        return s.format(s.defaultValue());
    }

    /** A string setting with a fixed set of values: "mode must be one of [ar, ar-pipe, eesd, ppsd, spd] but was x". */
    public static Setting<String> choice(String name, String dflt, Scope scope, String metavar, List<String> values,
            String doc) {
        List<String> legal = List.copyOf(values);
        return new Setting<>(name, Kind.STRING, dflt, scope, metavar, "one of " + legal, legal::contains, doc);
    }

    /** A setting of another table (a front end's own, {@link Scope#JOB}); the engine's names stay reserved. */
    public static <T> Setting<T> define(String name, Kind<T> kind, T dflt, String metavar, String legal,
            Predicate<T> rule, String doc) {
        if (BY_NAME.containsKey(name)) {
            throw new IllegalArgumentException("setting " + name + " is already in the engine's table");
        }
        return new Setting<>(name, kind, dflt, Scope.JOB, metavar, legal, rule, doc);
    }

    private static <T> Setting<T> add(Setting<T> s) {
        BY_NAME.put(s.name(), s);
        return s;
    }

    private static boolean isStageList(String s) {
        if (s.trim().equals("auto")) {
            return true;
        }
        String[] parts = s.split(",", -1);
        for (String p : parts) {
            if (!DEVICE.matcher(p.trim()).matches()) {
                return false;
            }
        }
        return parts.length > 0;
    }

    private static boolean isEmptyOrJsonObject(String s) {
        if (s.isEmpty()) {
            return true;
        }
        try {
            return com.google.gson.JsonParser.parseString(s).isJsonObject();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static boolean isPositiveInt(String s) {
        try {
            return Integer.parseInt(s) >= 1;
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
