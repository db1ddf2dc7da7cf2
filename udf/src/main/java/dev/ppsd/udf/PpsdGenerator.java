package dev.ppsd.udf;

import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.Option;

import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Generates text for every row of a Dataset with the PPSD engine: one engine per executor JVM, shared by all its
 * tasks, rows of a partition sent {@code batchSize} at a time as Arrow batches, and rows of concurrent tasks
 * batched together. The output is the input plus {@code generated_text}, {@code finish_reason},
 * {@code prompt_tokens}, {@code new_tokens}, {@code acceptance} (null without drafts), {@code tokens_per_s} and
 * {@code error} (null when the row succeeded): N rows in, N rows out, a bad row gets its message in
 * {@code error} and the others are generated (unless {@code failOnError}).
 *
 * <pre>{@code
 * Dataset<Row> prompts = spark.createDataFrame(List.of(
 *         RowFactory.create(1, "In the beginning"),
 *         RowFactory.create(2, "public static int"),
 *         RowFactory.create(3, null)), new StructType().add("id", "int").add("prompt", "string"));
 * PpsdGenerator gen = new PpsdGenerator().setModel(model).setMaxNewTokens(8).setBatchSize(8);
 * gen.transform(prompts).select("id", "generated_text", "finish_reason", "new_tokens", "error").show(false);
 * System.out.println("metrics: " + gen.metrics());
 * }</pre>
 * prints, with the tiny random test model ({@code TinyModels}, so the text is noise):
 * <pre>
 * +---+--------------+-------------+----------+--------------+
 * |id |generated_text|finish_reason|new_tokens|error         |
 * +---+--------------+-------------+----------+--------------+
 * |1  |];�G~ earth];�|length       |8         |NULL          |
 * |2  |��І j]       |length       |8         |NULL          |
 * |3  |NULL          |NULL         |NULL      |prompt is null|
 * +---+--------------+-------------+----------+--------------+
 * metrics: rows=3 errors=1 new_tokens=16 drafts=0/0
 * </pre>
 * (the runnable version is {@code ReadmeExample} in the tests; see {@code udf/README.md}).
 *
 * <p>Every param can also come from a Spark conf {@code spark.ppsd.<param>} (e.g. {@code spark.ppsd.model}); a
 * setter wins over the conf, the conf over the default. Defaults, docs and legal values: {@link PpsdConf}.
 * Optional per-row columns override the sampling settings: {@code max_new_tokens}, {@code temperature},
 * {@code top_k}, {@code top_p}, {@code seed} (used as is, instead of the derived seed), {@code stop}.
 */
public class PpsdGenerator extends Transformer {
    private static final long serialVersionUID = 1L;
    private static final String NUMERIC_TYPES = "tinyint, smallint, int, bigint, float, double or decimal";
    private static final String INTEGRAL_TYPES = "tinyint, smallint, int or bigint";

    private final String uid;
    private final Map<String, Param<?>> byName = new LinkedHashMap<>();
    private final Param<String> promptCol;
    private final Param<String> idCol;
    private final Param<String> generatedTextCol;
    private final Param<String> finishReasonCol;
    private final Param<String> promptTokensCol;
    private final Param<String> newTokensCol;
    private final Param<String> acceptanceCol;
    private final Param<String> tokensPerSecondCol;
    private final Param<String> errorCol;
    private final IntParam maxNewTokens;
    private final DoubleParam temperature;
    private final IntParam topK;
    private final DoubleParam topP;
    private final LongParam seed;
    private final StringArrayParam stop;
    private final Param<String> model;
    private final Param<String> exitHead;
    private final Param<String> mode;
    private final IntParam exitLayer;
    private final Param<String> stages;
    private final IntParam numStages;
    private final Param<String> gamma;
    private final Param<String> speculation;
    private final IntParam batchSize;
    private final BooleanParam failOnError;
    private final Param<String> promptTooLong;
    private transient PpsdMetrics metrics;

    /** A generator with a fresh uid. */
    public PpsdGenerator() {
        this(Identifiable$.MODULE$.randomUID("ppsdGenerator"));
    }

    /** A generator with the given uid (used by {@link #copy}). */
    public PpsdGenerator(String uid) {
        this.uid = uid;
        promptCol = string(PpsdConf.PROMPT_COL);
        idCol = string(PpsdConf.ID_COL);
        generatedTextCol = string(PpsdConf.GENERATED_TEXT_COL);
        finishReasonCol = string(PpsdConf.FINISH_REASON_COL);
        promptTokensCol = string(PpsdConf.PROMPT_TOKENS_COL);
        newTokensCol = string(PpsdConf.NEW_TOKENS_COL);
        acceptanceCol = string(PpsdConf.ACCEPTANCE_COL);
        tokensPerSecondCol = string(PpsdConf.TOKENS_PER_SECOND_COL);
        errorCol = string(PpsdConf.ERROR_COL);
        maxNewTokens = register(new IntParam(this, PpsdConf.MAX_NEW_TOKENS, doc(PpsdConf.MAX_NEW_TOKENS)));
        temperature = register(new DoubleParam(this, PpsdConf.TEMPERATURE, doc(PpsdConf.TEMPERATURE)));
        topK = register(new IntParam(this, PpsdConf.TOP_K, doc(PpsdConf.TOP_K)));
        topP = register(new DoubleParam(this, PpsdConf.TOP_P, doc(PpsdConf.TOP_P)));
        seed = register(new LongParam(this, PpsdConf.SEED, doc(PpsdConf.SEED)));
        stop = register(new StringArrayParam(this, PpsdConf.STOP, doc(PpsdConf.STOP)));
        model = string(PpsdConf.MODEL);
        exitHead = string(PpsdConf.EXIT_HEAD);
        mode = string(PpsdConf.MODE);
        exitLayer = register(new IntParam(this, PpsdConf.EXIT_LAYER, doc(PpsdConf.EXIT_LAYER)));
        stages = string(PpsdConf.STAGES);
        numStages = register(new IntParam(this, PpsdConf.NUM_STAGES, doc(PpsdConf.NUM_STAGES)));
        gamma = string(PpsdConf.GAMMA);
        speculation = string(PpsdConf.SPECULATION);
        batchSize = register(new IntParam(this, PpsdConf.BATCH_SIZE, doc(PpsdConf.BATCH_SIZE)));
        failOnError = register(new BooleanParam(this, PpsdConf.FAIL_ON_ERROR, doc(PpsdConf.FAIL_ON_ERROR)));
        promptTooLong = string(PpsdConf.PROMPT_TOO_LONG);
        for (Map.Entry<String, Param<?>> e : byName.entrySet()) {
            Object d = PpsdConf.defaultValue(e.getKey());
            if (d != null) {
                @SuppressWarnings("unchecked")
                Param<Object> p = (Param<Object>) e.getValue();
                setDefault(p, d);
            }
        }
    }

    private static String doc(String name) {
        return PpsdConf.setting(name).doc();
    }

    private Param<String> string(String name) {
        return register(new Param<>(this, name, doc(name)));
    }

    private <P extends Param<?>> P register(P p) {
        byName.put(p.name(), p);
        return p;
    }

    @Override
    public String uid() {
        return uid;
    }

    // ---- params (Spark ML lists a Transformer's params through these public accessors) ----

    /** Param: input prompt column (string). */
    public Param<String> promptCol() {
        return promptCol;
    }

    /** Param: input id column (any type, optional). */
    public Param<String> idCol() {
        return idCol;
    }

    /** Param: output column of the generated text. */
    public Param<String> generatedTextCol() {
        return generatedTextCol;
    }

    /** Param: output column of the finish reason. */
    public Param<String> finishReasonCol() {
        return finishReasonCol;
    }

    /** Param: output column of the prompt token count. */
    public Param<String> promptTokensCol() {
        return promptTokensCol;
    }

    /** Param: output column of the generated token count. */
    public Param<String> newTokensCol() {
        return newTokensCol;
    }

    /** Param: output column of the draft acceptance rate. */
    public Param<String> acceptanceCol() {
        return acceptanceCol;
    }

    /** Param: output column of tokens per second. */
    public Param<String> tokensPerSecondCol() {
        return tokensPerSecondCol;
    }

    /** Param: output column of the row's error. */
    public Param<String> errorCol() {
        return errorCol;
    }

    /** Param: token budget per row. */
    public IntParam maxNewTokens() {
        return maxNewTokens;
    }

    /** Param: sampling temperature (0 = greedy). */
    public DoubleParam temperature() {
        return temperature;
    }

    /** Param: top-k filter (0 = off). */
    public IntParam topK() {
        return topK;
    }

    /** Param: top-p filter (1 = off). */
    public DoubleParam topP() {
        return topP;
    }

    /** Param: job seed. */
    public LongParam seed() {
        return seed;
    }

    /** Param: stop strings. */
    public StringArrayParam stop() {
        return stop;
    }

    /** Param: model folder or URI. */
    public Param<String> model() {
        return model;
    }

    /** Param: exit head (auto, shared or a folder). */
    public Param<String> exitHead() {
        return exitHead;
    }

    /** Param: decoding mode. */
    public Param<String> mode() {
        return mode;
    }

    /** Param: drafter exit layer (0 = default). */
    public IntParam exitLayer() {
        return exitLayer;
    }

    /** Param: stage devices, or auto. */
    public Param<String> stages() {
        return stages;
    }

    /** Param: stage count when stages=auto. */
    public IntParam numStages() {
        return numStages;
    }

    /** Param: EESD draft length or ts. */
    public Param<String> gamma() {
        return gamma;
    }

    /** Param: ppsd speculation policy (auto or always). */
    public Param<String> speculation() {
        return speculation;
    }

    /** Param: rows per batch. */
    public IntParam batchSize() {
        return batchSize;
    }

    /** Param: fail the job on the first bad row. */
    public BooleanParam failOnError() {
        return failOnError;
    }

    /** Param: prompt-too-long policy (error or truncate). */
    public Param<String> promptTooLong() {
        return promptTooLong;
    }

    // ---- fluent setters: each checks its value and names it when bad ----

    private PpsdGenerator put(String name, Object value) {
        PpsdConf.check(name, value);
        @SuppressWarnings("unchecked")
        Param<Object> p = (Param<Object>) byName.get(name);
        set(p, value);
        return this;
    }

    /** Sets the prompt column. */
    public PpsdGenerator setPromptCol(String v) {
        return put(PpsdConf.PROMPT_COL, v);
    }

    /** Sets the id column. */
    public PpsdGenerator setIdCol(String v) {
        return put(PpsdConf.ID_COL, v);
    }

    /** Sets the generated-text output column. */
    public PpsdGenerator setGeneratedTextCol(String v) {
        return put(PpsdConf.GENERATED_TEXT_COL, v);
    }

    /** Sets the finish-reason output column. */
    public PpsdGenerator setFinishReasonCol(String v) {
        return put(PpsdConf.FINISH_REASON_COL, v);
    }

    /** Sets the prompt-tokens output column. */
    public PpsdGenerator setPromptTokensCol(String v) {
        return put(PpsdConf.PROMPT_TOKENS_COL, v);
    }

    /** Sets the new-tokens output column. */
    public PpsdGenerator setNewTokensCol(String v) {
        return put(PpsdConf.NEW_TOKENS_COL, v);
    }

    /** Sets the acceptance output column. */
    public PpsdGenerator setAcceptanceCol(String v) {
        return put(PpsdConf.ACCEPTANCE_COL, v);
    }

    /** Sets the tokens-per-second output column. */
    public PpsdGenerator setTokensPerSecondCol(String v) {
        return put(PpsdConf.TOKENS_PER_SECOND_COL, v);
    }

    /** Sets the error output column. */
    public PpsdGenerator setErrorCol(String v) {
        return put(PpsdConf.ERROR_COL, v);
    }

    /** Sets the token budget per row (>= 0). */
    public PpsdGenerator setMaxNewTokens(int v) {
        return put(PpsdConf.MAX_NEW_TOKENS, v);
    }

    /** Sets the temperature (>= 0; 0 = greedy). */
    public PpsdGenerator setTemperature(double v) {
        return put(PpsdConf.TEMPERATURE, v);
    }

    /** Sets top-k (>= 0; 0 = off). */
    public PpsdGenerator setTopK(int v) {
        return put(PpsdConf.TOP_K, v);
    }

    /** Sets top-p, in (0, 1]. */
    public PpsdGenerator setTopP(double v) {
        return put(PpsdConf.TOP_P, v);
    }

    /** Sets the job seed. */
    public PpsdGenerator setSeed(long v) {
        return put(PpsdConf.SEED, v);
    }

    /** Sets the stop strings. */
    public PpsdGenerator setStop(String... v) {
        return put(PpsdConf.STOP, v.clone());
    }

    /** Sets the model folder: local path, Hadoop URI, or name of a folder shipped with addFile. */
    public PpsdGenerator setModel(String v) {
        return put(PpsdConf.MODEL, v);
    }

    /** Sets the exit head: auto, shared, or a folder. */
    public PpsdGenerator setExitHead(String v) {
        return put(PpsdConf.EXIT_HEAD, v);
    }

    /** Sets the decoding mode (ar, ar-pipe, eesd, ppsd). */
    public PpsdGenerator setMode(String v) {
        return put(PpsdConf.MODE, v);
    }

    /** Sets the drafter's exit layer (0 = default). */
    public PpsdGenerator setExitLayer(int v) {
        return put(PpsdConf.EXIT_LAYER, v);
    }

    /** Sets the stage devices ("cpu,cpu", "gpu0,gpu1") or auto. */
    public PpsdGenerator setStages(String v) {
        return put(PpsdConf.STAGES, v);
    }

    /** Sets the number of stages used when stages=auto. */
    public PpsdGenerator setNumStages(int v) {
        return put(PpsdConf.NUM_STAGES, v);
    }

    /** Sets the EESD draft length (a number or ts). */
    public PpsdGenerator setGamma(String v) {
        return put(PpsdConf.GAMMA, v);
    }

    /** Sets the ppsd speculation policy: auto or always. */
    public PpsdGenerator setSpeculation(String v) {
        return put(PpsdConf.SPECULATION, v);
    }

    /** Sets the rows per Arrow batch and per engine call. */
    public PpsdGenerator setBatchSize(int v) {
        return put(PpsdConf.BATCH_SIZE, v);
    }

    /** Sets whether the first bad row fails the job. */
    public PpsdGenerator setFailOnError(boolean v) {
        return put(PpsdConf.FAIL_ON_ERROR, v);
    }

    /** Sets the prompt-too-long policy: error or truncate (keeps the end of the prompt). */
    public PpsdGenerator setPromptTooLong(String v) {
        return put(PpsdConf.PROMPT_TOO_LONG, v);
    }

    /** The prompt column in effect (setter, else conf, else default). */
    public String getPromptCol() {
        return settings(false).promptCol();
    }

    /** The model in effect, or null when none is set. */
    public String getModel() {
        return settings(false).engine().model();
    }

    /** The accumulators of the last {@link #transform} call (null before the first). */
    public PpsdMetrics metrics() {
        return metrics;
    }

    /**
     * The settings in effect: each param's explicit value, else {@code spark.ppsd.<name>} from the active
     * session's conf, else the default ({@link #transform} reads the conf of the dataset's session).
     */
    public PpsdSettings settings(boolean requireModel) {
        return settings(confOf(SparkSession.getActiveSession()), requireModel);
    }

    private PpsdSettings settings(Function<String, String> conf, boolean requireModel) {
        PpsdSettings s = PpsdSettings.resolve(name -> {
            Param<?> p = byName.get(name);
            return isSet(p) ? getOrDefault(p) : null;
        }, conf);
        if (requireModel) {
            s.engine().validate();
        }
        return s;
    }

    private static Function<String, String> confOf(Option<SparkSession> session) {
        if (session.isEmpty()) {
            return k -> null;
        }
        SparkSession spark = session.get();
        return k -> spark.conf().contains(k) ? spark.conf().get(k) : null;
    }

    // ---- Transformer ----

    /**
     * Checks the input schema before any data moves and returns the output schema. Fails with messages such as
     * {@code Input column prompt must be string but got int} or
     * {@code Input column prompt does not exist. Available: id, text}.
     */
    @Override
    public StructType transformSchema(StructType schema) {
        return transformSchema(schema, confOf(SparkSession.getActiveSession()));
    }

    private StructType transformSchema(StructType schema, Function<String, String> conf) {
        PpsdSettings s = settings(conf, false);
        layout(schema, s, conf);
        Set<String> names = new HashSet<>(Arrays.asList(schema.fieldNames()));
        Set<String> outs = new HashSet<>();
        for (String out : s.output().names()) {
            if (names.contains(out)) {
                throw new IllegalArgumentException("Output column " + out + " already exists in the input;"
                        + " choose another name with its set...Col setter");
            }
            if (!outs.add(out)) {
                throw new IllegalArgumentException("Output column " + out + " is named twice");
            }
        }
        StructType out = schema;
        for (StructField f : s.output().fields()) {
            out = out.add(f);
        }
        return out;
    }

    /** Generates every row; see the class comment. The model must be set (setter or {@code spark.ppsd.model}). */
    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        Function<String, String> conf = confOf(Option.apply(dataset.sparkSession()));
        StructType outSchema = transformSchema(dataset.schema(), conf);
        PpsdSettings s = settings(conf, true);
        PartitionGenerator.Layout layout = layout(dataset.schema(), s, conf);
        metrics = PpsdMetrics.register(dataset.sparkSession().sparkContext(), "ppsd");
        return dataset.toDF().mapPartitions(new PartitionGenerator(s, layout, metrics), Encoders.row(outSchema));
    }

    @Override
    public PpsdGenerator copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    private PartitionGenerator.Layout layout(StructType schema, PpsdSettings s, Function<String, String> conf) {
        int prompt = column(schema, s.promptCol(), true);
        requireType(schema, prompt, DataTypes.StringType.equals(schema.fields()[prompt].dataType()), "string");
        boolean idExplicit = isSet(idCol) || conf.apply(PpsdConf.PREFIX + PpsdConf.ID_COL) != null;
        int id = column(schema, s.idCol(), idExplicit);
        int maxNew = integral(schema, RowRequests.MAX_NEW_TOKENS);
        int temp = numeric(schema, RowRequests.TEMPERATURE);
        int k = integral(schema, RowRequests.TOP_K);
        int p = numeric(schema, RowRequests.TOP_P);
        int sd = integral(schema, RowRequests.SEED);
        int st = column(schema, RowRequests.STOP, false);
        if (st >= 0) {
            DataType t = schema.fields()[st].dataType();
            boolean strings = DataTypes.StringType.equals(t)
                    || t instanceof ArrayType a && DataTypes.StringType.equals(a.elementType());
            requireType(schema, st, strings, "array<string> or string");
        }
        return new PartitionGenerator.Layout(schema.fields().length, prompt, id, maxNew, temp, k, p, sd, st);
    }

    private static int column(StructType schema, String name, boolean required) {
        List<String> names = Arrays.asList(schema.fieldNames());
        int i = names.indexOf(name);
        if (i < 0 && required) {
            throw new IllegalArgumentException("Input column " + name + " does not exist. Available: "
                    + String.join(", ", names));
        }
        return i;
    }

    private static int integral(StructType schema, String name) {
        int i = column(schema, name, false);
        if (i >= 0) {
            DataType t = schema.fields()[i].dataType();
            requireType(schema, i, t instanceof IntegerType || t instanceof LongType || t instanceof ShortType
                    || t instanceof ByteType, INTEGRAL_TYPES);
        }
        return i;
    }

    private static int numeric(StructType schema, String name) {
        int i = column(schema, name, false);
        if (i >= 0) {
            requireType(schema, i, schema.fields()[i].dataType() instanceof NumericType, NUMERIC_TYPES);
        }
        return i;
    }

    private static void requireType(StructType schema, int i, boolean ok, String expected) {
        if (!ok) {
            StructField f = schema.fields()[i];
            throw new IllegalArgumentException("Input column " + f.name() + " must be " + expected + " but got "
                    + f.dataType().simpleString());
        }
    }
}
