package dev.ppsd.udf;

import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Setting.Kind;
import dev.ppsd.engine.settings.Setting.Scope;
import dev.ppsd.engine.settings.Settings;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.IntArrayParam;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BooleanType;
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
 * tasks, rows of a partition handed to it {@code batch_size} at a time, and rows of concurrent tasks batched
 * together. The output is the input plus {@code generated_text}, {@code finish_reason},
 * {@code prompt_tokens}, {@code new_tokens}, {@code acceptance} (null without drafts), {@code tokens_per_s} and
 * {@code error} (null when the row succeeded): N rows in, N rows out, a bad row gets its message in
 * {@code error} and the others are generated (unless {@code failOnError}).
 *
 * <pre>{@code
 * Dataset<Row> prompts = spark.createDataFrame(List.of(
 *         RowFactory.create(1, "In the beginning"),
 *         RowFactory.create(2, "public static int"),
 *         RowFactory.create(3, null)), new StructType().add("id", "int").add("prompt", "string"));
 * PpsdGenerator gen = new PpsdGenerator().setParam("model", model).setParam("max_new_tokens", 8);
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
 * <p>The params are the settings of the engine's table ({@code Settings}) and of {@link JobOptions}, by name
 * ({@code model}, {@code mode}, {@code max_new_tokens}, {@code prompt_col}, ...; {@code explainParams()} lists them
 * with their docs and defaults). Each can also come from a Spark conf {@code spark.ppsd.<name>}; a param set on the
 * generator wins over the conf, the conf over the default. A column named like a request setting
 * ({@code max_new_tokens}, {@code temperature}, {@code top_k}, {@code top_p}, {@code seed} — used as is, instead of
 * the derived seed —, {@code stop}, ...) overrides it for its row where it is not null.
 */
public class PpsdGenerator extends Transformer {
    private static final long serialVersionUID = 1L;
    private static final String NUMERIC_TYPES = "tinyint, smallint, int, bigint, float, double, decimal or string";
    private static final String INTEGRAL_TYPES = "tinyint, smallint, int, bigint or string";

    private final String uid;
    private final Map<String, Param<?>> byName = new LinkedHashMap<>();
    private final Param<?>[] params;
    private transient PpsdMetrics metrics;

    /** A generator with a fresh uid. */
    public PpsdGenerator() {
        this(Identifiable$.MODULE$.randomUID("ppsdGenerator"));
    }

    /** A generator with the given uid (used by {@link #copy}). */
    public PpsdGenerator(String uid) {
        this.uid = uid;
        for (Setting<?> s : JobSettings.table()) {
            Param<?> p = param(s);
            byName.put(s.name(), p);
            if (s.defaultValue() != null) {
                @SuppressWarnings("unchecked")
                Param<Object> o = (Param<Object>) p;
                setDefault(o, paramValue(s, s.defaultValue()));
            }
        }
        params = byName.values().toArray(new Param<?>[0]);
    }

    /** The Spark param of a setting, by its kind; the doc is the setting's help (legal values and default). */
    private Param<?> param(Setting<?> s) {
        Kind<?> k = s.kind();
        String doc = s.doc(); // explainParams adds the default
        if (k == Kind.INT) {
            return new IntParam(this, s.name(), doc);
        } else if (k == Kind.LONG) {
            return new LongParam(this, s.name(), doc);
        } else if (k == Kind.DOUBLE) {
            return new DoubleParam(this, s.name(), doc);
        } else if (k == Kind.BOOLEAN) {
            return new BooleanParam(this, s.name(), doc);
        } else if (k == Kind.STRINGS) {
            return new StringArrayParam(this, s.name(), doc);
        } else if (k == Kind.INTS) {
            return new IntArrayParam(this, s.name(), doc);
        }
        return new Param<String>(this, s.name(), doc);
    }

    /** A checked setting value as its param holds it (lists as String[] or int[]). */
    private static Object paramValue(Setting<?> s, Object checked) {
        if (checked instanceof List<?> l) {
            return s.kind() == Kind.INTS ? l.stream().mapToInt(x -> (Integer) x).toArray() : l.toArray(new String[0]);
        }
        return checked;
    }

    @Override
    public String uid() {
        return uid;
    }

    /** One param per setting ({@code Settings} and {@link JobOptions}), in table order. */
    @Override
    public Param<?>[] params() {
        return params;
    }

    /**
     * Sets the setting {@code name} (a param name) to {@code value}, checked by the settings table: numbers of any
     * width, text, arrays or lists of strings. Throws IllegalArgumentException naming the setting and the legal
     * values ({@code max_new_tokens must be >= 0 but was -1}).
     */
    public PpsdGenerator setParam(String name, Object value) {
        Setting<?> s = JobSettings.setting(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown param " + name + " (known: " + byName.keySet() + ")");
        }
        @SuppressWarnings("unchecked")
        Param<Object> p = (Param<Object>) byName.get(name);
        set(p, paramValue(s, s.coerce(value)));
        return this;
    }

    /** {@link #setParam} for every entry of {@code values}. */
    public PpsdGenerator setParams(Map<String, ?> values) {
        values.forEach(this::setParam);
        return this;
    }

    /** The accumulators of the last {@link #transform} call (null before the first). */
    public PpsdMetrics metrics() {
        return metrics;
    }

    /**
     * The settings in effect: each param set on this generator, else {@code spark.ppsd.<name>} from the active
     * session's conf, else the default ({@link #transform} reads the conf of the dataset's session).
     */
    public JobSettings settings(boolean requireModel) {
        return settings(confOf(SparkSession.getActiveSession()), requireModel);
    }

    private JobSettings settings(Function<String, String> conf, boolean requireModel) {
        JobSettings s = JobSettings.resolve(setting -> {
            Param<?> p = byName.get(setting.name());
            return isSet(p) ? getOrDefault(p) : null;
        }, conf);
        if (requireModel) {
            s.handle().validate();
        }
        return s;
    }

    private static Function<String, String> confOf(Option<SparkSession> session) {
        return session.isEmpty() ? k -> null : JobSettings.conf(session.get());
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
        JobSettings s = settings(conf, false);
        OutputColumns output = layout(schema, s, conf).output();
        Set<String> names = new HashSet<>(Arrays.asList(schema.fieldNames()));
        Set<String> outs = new HashSet<>();
        for (String out : output.names()) {
            if (names.contains(out)) {
                throw new IllegalArgumentException("Output column " + out + " already exists in the input;"
                        + " choose another name with its ..._col param");
            }
            if (!outs.add(out)) {
                throw new IllegalArgumentException("Output column " + out + " is named twice");
            }
        }
        StructType out = schema;
        for (StructField f : output.fields()) {
            out = out.add(f);
        }
        return out;
    }

    /** Generates every row; see the class comment. The model must be set (param or {@code spark.ppsd.model}). */
    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        Function<String, String> conf = confOf(Option.apply(dataset.sparkSession()));
        StructType outSchema = transformSchema(dataset.schema(), conf);
        JobSettings s = settings(conf, true);
        PartitionGenerator.Layout layout = layout(dataset.schema(), s, conf);
        metrics = PpsdMetrics.register(dataset.sparkSession().sparkContext(), "ppsd");
        return dataset.toDF().mapPartitions(new PartitionGenerator(s, layout, metrics), Encoders.row(outSchema));
    }

    @Override
    public PpsdGenerator copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    private PartitionGenerator.Layout layout(StructType schema, JobSettings s, Function<String, String> conf) {
        int messages = column(schema, s.job().get(JobOptions.MESSAGES_COL), false);
        if (messages >= 0) {
            requireType(schema, messages, isChat(schema.fields()[messages].dataType()),
                    "array<struct<role:string,content:string>>");
        }
        // the prompt column is needed unless the rows carry chats
        int prompt = column(schema, s.job().get(JobOptions.PROMPT_COL), messages < 0);
        if (prompt >= 0) {
            requireType(schema, prompt, DataTypes.StringType.equals(schema.fields()[prompt].dataType()), "string");
        }
        boolean idExplicit = isSet(byName.get(JobOptions.ID_COL.name()))
                || conf.apply(JobOptions.ID_COL.confKey()) != null;
        int id = column(schema, s.job().get(JobOptions.ID_COL), idExplicit);
        List<Setting<?>> request = Settings.of(Scope.REQUEST);
        int[] own = new int[request.size()];
        for (int i = 0; i < own.length; i++) {
            own[i] = ownColumn(schema, request.get(i));
        }
        // the optional result columns: where the job asks for samples / log-probabilities, or a row may
        boolean samples = s.defaults().get(Settings.N) > 1 || own[request.indexOf(Settings.N)] >= 0;
        boolean logprobs = s.defaults().get(Settings.LOGPROBS) > 0 || own[request.indexOf(Settings.LOGPROBS)] >= 0;
        boolean promptLogprobs = s.defaults().get(Settings.PROMPT_LOGPROBS) > 0
                || own[request.indexOf(Settings.PROMPT_LOGPROBS)] >= 0;
        boolean guided = false;
        for (Setting<?> g : List.of(Settings.GUIDED_CHOICE, Settings.GUIDED_REGEX, Settings.GUIDED_JSON)) {
            guided |= !java.util.Objects.equals(s.defaults().get(g), g.defaultValue()) || own[request.indexOf(g)] >= 0;
        }
        return new PartitionGenerator.Layout(schema.fields().length, prompt, messages, id, own,
                s.job().output(guided, samples, logprobs, promptLogprobs));
    }

    /** Whether {@code t} is a chat: {@code array<struct<role: string, content: string, ...>>}. */
    public static boolean isChat(DataType t) {
        if (!(t instanceof ArrayType a) || !(a.elementType() instanceof StructType st)) {
            return false;
        }
        List<String> names = Arrays.asList(st.fieldNames());
        return names.contains("role") && names.contains("content")
                && DataTypes.StringType.equals(st.apply("role").dataType())
                && DataTypes.StringType.equals(st.apply("content").dataType());
    }

    /**
     * The column that overrides request setting {@code s} per row, type-checked by the setting's kind; -1 if none. A
     * string column fits every kind (a CSV's columns are all text): its cells are parsed per row by the setting.
     */
    private static int ownColumn(StructType schema, Setting<?> s) {
        int i = column(schema, s.name(), false);
        if (i < 0) {
            return i;
        }
        DataType t = schema.fields()[i].dataType();
        if (DataTypes.StringType.equals(t)) {
            return i;
        }
        Kind<?> k = s.kind();
        if (k == Kind.INT || k == Kind.LONG) {
            requireType(schema, i, t instanceof IntegerType || t instanceof LongType || t instanceof ShortType
                    || t instanceof ByteType, INTEGRAL_TYPES);
        } else if (k == Kind.DOUBLE) {
            requireType(schema, i, t instanceof NumericType, NUMERIC_TYPES);
        } else if (k == Kind.BOOLEAN) {
            requireType(schema, i, t instanceof BooleanType, "boolean or string");
        } else if (k == Kind.STRINGS) {
            requireType(schema, i, DataTypes.StringType.equals(t)
                    || t instanceof ArrayType a && DataTypes.StringType.equals(a.elementType()), "array<string> or string");
        } else {
            requireType(schema, i, DataTypes.StringType.equals(t), "string");
        }
        return i;
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

    private static void requireType(StructType schema, int i, boolean ok, String expected) {
        if (!ok) {
            StructField f = schema.fields()[i];
            throw new IllegalArgumentException("Input column " + f.name() + " must be " + expected + " but got "
                    + f.dataType().simpleString());
        }
    }
}
