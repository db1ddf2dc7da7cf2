package dev.ppsd.udf;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every setting of the Spark face in one place: its name (the {@link PpsdGenerator} param and, prefixed with
 * {@value #PREFIX}, the Spark conf key), default, doc and legal values. A value is taken from, in order: the
 * generator's setter, the Spark conf ({@code --conf spark.ppsd.maxNewTokens=32}), the default here.
 */
public final class PpsdConf {
    /** Prefix of the Spark conf keys: {@code spark.ppsd.<name>}. */
    public static final String PREFIX = "spark.ppsd.";

    // setting names: the PpsdGenerator param names, and the conf keys after PREFIX
    public static final String PROMPT_COL = "promptCol";
    public static final String ID_COL = "idCol";
    public static final String GENERATED_TEXT_COL = "generatedTextCol";
    public static final String FINISH_REASON_COL = "finishReasonCol";
    public static final String PROMPT_TOKENS_COL = "promptTokensCol";
    public static final String NEW_TOKENS_COL = "newTokensCol";
    public static final String ACCEPTANCE_COL = "acceptanceCol";
    public static final String TOKENS_PER_SECOND_COL = "tokensPerSecondCol";
    public static final String ERROR_COL = "errorCol";
    public static final String MAX_NEW_TOKENS = "maxNewTokens";
    public static final String TEMPERATURE = "temperature";
    public static final String TOP_K = "topK";
    public static final String TOP_P = "topP";
    public static final String SEED = "seed";
    public static final String STOP = "stop";
    public static final String MODEL = "model";
    public static final String EXIT_HEAD = "exitHead";
    public static final String MODE = "mode";
    public static final String EXIT_LAYER = "exitLayer";
    public static final String STAGES = "stages";
    public static final String NUM_STAGES = "numStages";
    public static final String GAMMA = "gamma";
    public static final String SPECULATION = "speculation";
    public static final String BATCH_SIZE = "batchSize";
    public static final String FAIL_ON_ERROR = "failOnError";
    public static final String PROMPT_TOO_LONG = "promptTooLong";

    /** {@code stages} value that maps stages to the task's GPUs, or CPUs (see {@link StageDevices}). */
    public static final String AUTO_STAGES = "auto";
    /** {@code promptTooLong} policies. */
    public static final String TRUNCATE = "truncate";
    public static final String ERROR = "error";

    /** One setting: its name, its type, its default (null: must be set) and the doc shown by {@code explainParams}. */
    public record Setting(String name, Class<?> type, Object defaultValue, String doc) {
    }

    private static final Map<String, Setting> SETTINGS = new LinkedHashMap<>();

    static {
        add(PROMPT_COL, String.class, "prompt", "input column holding the prompt (string)");
        add(ID_COL, String.class, "id", "input column identifying a row (any type; optional): derives the row's seed"
                + " and names the row in errors. Without it the prompt text is the seed key");
        add(GENERATED_TEXT_COL, String.class, "generated_text", "output column: the generated text");
        add(FINISH_REASON_COL, String.class, "finish_reason", "output column: eos, stop or length");
        add(PROMPT_TOKENS_COL, String.class, "prompt_tokens", "output column: prompt tokens as fed to the model");
        add(NEW_TOKENS_COL, String.class, "new_tokens", "output column: generated tokens");
        add(ACCEPTANCE_COL, String.class, "acceptance",
                "output column: drafts accepted / proposed (null without drafts)");
        add(TOKENS_PER_SECOND_COL, String.class, "tokens_per_s",
                "output column: generated tokens per second of the row");
        add(ERROR_COL, String.class, "error", "output column: why the row failed (null when it succeeded)");
        add(MAX_NEW_TOKENS, Integer.class, SamplingParams.DEFAULT_MAX_NEW_TOKENS, "token budget per row (>= 0);"
                + " per-row column max_new_tokens");
        add(TEMPERATURE, Double.class, 0.0, "sampling temperature (>= 0, 0 = greedy); per-row column temperature");
        add(TOP_K, Integer.class, 0, "top-k filter (>= 0, 0 = off); per-row column top_k");
        add(TOP_P, Double.class, 1.0, "nucleus filter in (0, 1] (1 = off); per-row column top_p");
        add(SEED, Long.class, 0L, "job seed: row seed = seed ^ fnv1a64(row id); per-row column seed is used as is");
        add(STOP, String[].class, new String[0], "stop strings; per-row column stop (array<string> or string)."
                + " As a Spark conf: a JSON array, or one stop string");
        add(MODEL, String.class, null, "model folder every executor can read: a local path, a Hadoop URI"
                + " (hdfs://, s3a://, ...; copied to local disk once per executor) or the name of a folder shipped"
                + " with SparkContext.addFile(dir, true) or --archives");
        add(EXIT_HEAD, String.class, EngineOptions.DEFAULT_EXIT_HEAD, "auto, shared, or a folder (same forms as model)"
                + " holding a trained exit head");
        add(MODE, String.class, EngineOptions.DEFAULT_MODE, "decoding mode: one of " + sorted(EngineOptions.MODES));
        add(EXIT_LAYER, Integer.class, 0, "exit layer of the drafter (0 = the default)");
        add(STAGES, String.class, AUTO_STAGES, "pipeline stage devices, comma-separated (e.g. cpu,cpu or gpu0,gpu1),"
                + " or auto: numStages stages on the task's GPUs, else on the CPU");
        add(NUM_STAGES, Integer.class, EngineOptions.DEFAULT_STAGES.size(), "number of stages when stages=auto");
        add(GAMMA, String.class, EngineOptions.DEFAULT_GAMMA, "EESD draft length: a number, or ts (Thompson sampling)");
        add(SPECULATION, String.class, EngineOptions.DEFAULT_SPECULATION, "ppsd: auto (greedy rows draft only while"
                + " drafting measures cheaper per token than the pipeline without drafts, pipelined or in lock-step)"
                + " or always");
        add(BATCH_SIZE, Integer.class, EngineOptions.DEFAULT_BATCH_SIZE, "rows per Arrow batch and per engine call"
                + " (rows of concurrent tasks of an executor are batched together)");
        add(FAIL_ON_ERROR, Boolean.class, false, "true: the first bad row fails the job (naming its id);"
                + " false: a bad row gets a message in the error column and the others are generated");
        add(PROMPT_TOO_LONG, String.class, ERROR, "what to do with a prompt that does not fit the model's context:"
                + " error (the row fails) or truncate (keep the end of the prompt)");
    }

    private PpsdConf() {
    }

    private static void add(String name, Class<?> type, Object dflt, String doc) {
        SETTINGS.put(name, new Setting(name, type, dflt, doc));
    }

    private static List<String> sorted(Set<String> s) {
        List<String> l = new ArrayList<>(s);
        Collections.sort(l);
        return l;
    }

    /** All settings, in declaration order. */
    public static Map<String, Setting> settings() {
        return Collections.unmodifiableMap(SETTINGS);
    }

    /** The setting called {@code name}. */
    public static Setting setting(String name) {
        Setting s = SETTINGS.get(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown setting " + name + " (known: " + SETTINGS.keySet() + ")");
        }
        return s;
    }

    /** The default of {@code name} (null when it has none and must be set). */
    public static Object defaultValue(String name) {
        Object d = setting(name).defaultValue();
        return d instanceof String[] a ? a.clone() : d;
    }

    /** Parses a Spark conf string into the type of setting {@code name}, naming the key on a bad value. */
    public static Object parse(String name, String raw) {
        Class<?> type = setting(name).type();
        String v = raw.trim();
        try {
            if (type == Integer.class) {
                return Integer.parseInt(v);
            } else if (type == Long.class) {
                return Long.parseLong(v);
            } else if (type == Double.class) {
                return Double.parseDouble(v);
            } else if (type == Boolean.class) {
                if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
                    throw new NumberFormatException();
                }
                return Boolean.parseBoolean(v);
            } else if (type == String[].class) {
                return parseStringList(raw);
            }
            return raw;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(PREFIX + name + " must be " + typeName(type) + " but was '" + raw + "'");
        }
    }

    private static String[] parseStringList(String raw) {
        if (!raw.trim().startsWith("[")) {
            return raw.isEmpty() ? new String[0] : new String[] {raw};
        }
        JsonArray a = JsonParser.parseString(raw).getAsJsonArray();
        String[] out = new String[a.size()];
        int i = 0;
        for (JsonElement e : a) {
            out[i++] = e.getAsString();
        }
        return out;
    }

    private static String typeName(Class<?> type) {
        if (type == Integer.class || type == Long.class) {
            return "an integer";
        } else if (type == Double.class) {
            return "a number";
        } else if (type == Boolean.class) {
            return "true or false";
        } else if (type == String[].class) {
            return "a JSON array of strings";
        }
        return "a string";
    }

    /**
     * Checks a value of setting {@code name}; throws IllegalArgumentException naming the setting, the bad value
     * and the legal range ("maxNewTokens must be >= 0 but was -1").
     */
    public static void check(String name, Object value) {
        Setting s = setting(name);
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (!s.type().isInstance(value)) {
            throw new IllegalArgumentException(name + " must be " + typeName(s.type()) + " but was " + value);
        }
        switch (name) {
            case PROMPT_COL, ID_COL, GENERATED_TEXT_COL, FINISH_REASON_COL, PROMPT_TOKENS_COL, NEW_TOKENS_COL,
                    ACCEPTANCE_COL, TOKENS_PER_SECOND_COL, ERROR_COL -> require(!((String) value).isBlank(),
                    name + " must be a column name but was '" + value + "'");
            case MAX_NEW_TOKENS -> require((Integer) value >= 0, name + " must be >= 0 but was " + value);
            case TEMPERATURE -> require((Double) value >= 0 && !((Double) value).isInfinite(),
                    name + " must be >= 0 but was " + value);
            case TOP_K -> require((Integer) value >= 0, name + " must be >= 0 (0 = off) but was " + value);
            case TOP_P -> require((Double) value > 0 && (Double) value <= 1,
                    name + " must be in (0, 1] but was " + value);
            case STOP -> {
                for (String x : (String[]) value) {
                    require(x != null && !x.isEmpty(), name + " strings must not be null or empty");
                }
            }
            case MODEL -> require(!((String) value).isBlank(), "model must be a folder path or URI but was blank");
            case EXIT_HEAD -> require(!((String) value).isBlank(), "exitHead must be auto, shared or a folder");
            case MODE -> require(EngineOptions.MODES.contains(value),
                    "mode must be one of " + sorted(EngineOptions.MODES) + " but was " + value);
            case EXIT_LAYER -> require((Integer) value >= 0,
                    name + " must be >= 1 (or 0 for the default) but was " + value);
            case STAGES -> require(!((String) value).isBlank() && stageList((String) value, 1).size() >= 1,
                    "stages must be auto or a comma-separated device list such as cpu,cpu but was '" + value + "'");
            case NUM_STAGES -> require((Integer) value >= 1, name + " must be >= 1 but was " + value);
            case GAMMA -> require(value.equals("ts") || isPositiveInt((String) value),
                    "gamma must be a positive integer or 'ts' but was " + value);
            case SPECULATION -> require(value.equals("auto") || value.equals("always"),
                    "speculation must be auto or always but was " + value);
            case BATCH_SIZE -> require((Integer) value >= 1, name + " must be >= 1 but was " + value);
            case PROMPT_TOO_LONG -> require(value.equals(TRUNCATE) || value.equals(ERROR),
                    "promptTooLong must be truncate or error but was " + value);
            default -> {
            }
        }
    }

    /** The devices of a {@code stages} value that is not {@code auto}; {@code auto} gives {@code k} CPU stages. */
    static List<String> stageList(String stages, int k) {
        if (stages.trim().equals(AUTO_STAGES)) {
            return StageDevices.forResources(Map.of(), k);
        }
        List<String> out = new ArrayList<>();
        for (String s : stages.split(",")) {
            if (!s.isBlank()) {
                out.add(s.trim());
            }
        }
        return out;
    }

    private static boolean isPositiveInt(String s) {
        try {
            return Integer.parseInt(s) >= 1;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
