package dev.ppsd.udf;

import java.io.Serializable;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * All settings of one generation job, resolved on the driver (setter, else {@code spark.ppsd.*} conf, else the
 * default in {@link PpsdConf}) and shipped to the tasks. Serializable and small: the engine is named by
 * {@link #engine()}, never shipped.
 *
 * @param promptCol     input prompt column
 * @param idCol         input id column (may be absent from the table)
 * @param output        result column names
 * @param maxNewTokens  default token budget per row
 * @param temperature   default temperature (0 = greedy)
 * @param topK          default top-k (0 = off)
 * @param topP          default top-p (1 = off)
 * @param seed          job seed; a row's seed is {@link RowSeeds#forRow}{@code (seed, id)}
 * @param stop          default stop strings
 * @param engine        the engine settings
 * @param failOnError   whether a bad row fails the job
 * @param promptTooLong {@code error} or {@code truncate}
 */
public record PpsdSettings(String promptCol, String idCol, OutputColumns output, int maxNewTokens, double temperature,
        int topK, double topP, long seed, List<String> stop, EngineHandle engine, boolean failOnError,
        String promptTooLong) implements Serializable {

    public PpsdSettings {
        stop = List.copyOf(stop);
    }

    /** Settings from the Spark conf and the defaults only (the SQL function's case). */
    public static PpsdSettings fromConf(Function<String, String> conf) {
        return resolve(name -> null, conf);
    }

    /**
     * Resolves every setting: {@code explicit.apply(name)} when non-null, else the conf value of
     * {@code spark.ppsd.<name>} (parsed), else the default. Each value is checked; {@code model} may stay null
     * here ({@link EngineHandle#validate()} reports it where a model is needed).
     */
    public static PpsdSettings resolve(Function<String, Object> explicit, Function<String, String> conf) {
        Map<String, Object> v = new HashMap<>();
        for (String name : PpsdConf.settings().keySet()) {
            Object x = explicit.apply(name);
            if (x == null) {
                String raw = conf.apply(PpsdConf.PREFIX + name);
                if (raw != null) {
                    x = PpsdConf.parse(name, raw);
                }
            }
            if (x == null) {
                x = PpsdConf.defaultValue(name);
            }
            if (x != null) {
                PpsdConf.check(name, x);
            }
            v.put(name, x);
        }
        OutputColumns out = new OutputColumns(str(v, PpsdConf.GENERATED_TEXT_COL), str(v, PpsdConf.FINISH_REASON_COL),
                str(v, PpsdConf.PROMPT_TOKENS_COL), str(v, PpsdConf.NEW_TOKENS_COL), str(v, PpsdConf.ACCEPTANCE_COL),
                str(v, PpsdConf.TOKENS_PER_SECOND_COL), str(v, PpsdConf.ERROR_COL));
        EngineHandle engine = new EngineHandle(str(v, PpsdConf.MODEL), str(v, PpsdConf.EXIT_HEAD),
                str(v, PpsdConf.MODE),
                (Integer) v.get(PpsdConf.BATCH_SIZE), (Integer) v.get(PpsdConf.EXIT_LAYER), str(v, PpsdConf.STAGES),
                (Integer) v.get(PpsdConf.NUM_STAGES), str(v, PpsdConf.GAMMA), str(v, PpsdConf.SPECULATION));
        return new PpsdSettings(str(v, PpsdConf.PROMPT_COL), str(v, PpsdConf.ID_COL), out,
                (Integer) v.get(PpsdConf.MAX_NEW_TOKENS), (Double) v.get(PpsdConf.TEMPERATURE),
                (Integer) v.get(PpsdConf.TOP_K), (Double) v.get(PpsdConf.TOP_P), (Long) v.get(PpsdConf.SEED),
                Arrays.asList((String[]) v.get(PpsdConf.STOP)), engine, (Boolean) v.get(PpsdConf.FAIL_ON_ERROR),
                str(v, PpsdConf.PROMPT_TOO_LONG));
    }

    private static String str(Map<String, Object> v, String name) {
        return (String) v.get(name);
    }
}
