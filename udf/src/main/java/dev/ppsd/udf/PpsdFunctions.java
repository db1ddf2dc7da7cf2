package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.udf.RowRequests.Overrides;
import dev.ppsd.udf.RowRequests.Prepared;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import scala.Function1;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The SQL face: {@code ppsd_generate(prompt [, options_map])} returns a struct of {@code generated_text},
 * {@code finish_reason}, {@code prompt_tokens}, {@code new_tokens}, {@code acceptance}, {@code tokens_per_s},
 * {@code error}.
 *
 * <pre>{@code
 * spark.conf().set("spark.ppsd.model", "/models/ppsd-mini");   // read when registering
 * PpsdFunctions.register(spark);
 * spark.sql("SELECT id, ppsd_generate(prompt).generated_text FROM prompts");
 * spark.sql("SELECT id, ppsd_generate(prompt, map('max_new_tokens', '16', 'temperature', '0.8')) AS g FROM prompts");
 * }</pre>
 *
 * Option keys: {@code max_new_tokens}, {@code temperature}, {@code top_k}, {@code top_p}, {@code seed},
 * {@code stop} (one string, or a JSON array), {@code mode}, {@code exit_layer}, and {@code id} (the key of the
 * derived seed and the name of the row in errors; without it the prompt text is the seed key). An unknown key or
 * a bad value fails that row only (message in {@code error}). The other settings come from {@code spark.ppsd.*}
 * confs read at {@link #register} time.
 *
 * <p>Throughput: Spark calls a UDF one row at a time, so each call submits a batch of one row to the executor's
 * shared engine; rows of concurrently running tasks still meet in the cross-task batcher, but an engine batch
 * never holds more rows than the executor runs tasks. For bulk generation prefer {@link PpsdGenerator}, which
 * sends {@code batchSize} rows per engine call.
 */
public final class PpsdFunctions {
    /** The SQL function name. */
    public static final String NAME = "ppsd_generate";

    private PpsdFunctions() {
    }

    /**
     * Registers {@code ppsd_generate} in {@code spark}'s session with the {@code spark.ppsd.*} settings in effect
     * now (the model: {@code spark.ppsd.model}); returns the accumulators its calls update
     * ({@code ppsd_generate.rows}, ...).
     */
    public static PpsdMetrics register(SparkSession spark) {
        PpsdSettings settings = PpsdSettings.fromConf(k -> spark.conf().contains(k) ? spark.conf().get(k) : null);
        settings.engine().validate();
        PpsdMetrics metrics = PpsdMetrics.register(spark.sparkContext(), NAME);
        SqlGenerate fn = new SqlGenerate(settings, metrics);
        StructType type = OutputColumns.DEFAULT.struct();
        UserDefinedFunction one = functions.udf((UDF1<String, Row>) fn::call1, type).withName(NAME);
        UserDefinedFunction two = functions.udf((UDF2<String, Object, Row>) fn::call2, type).withName(NAME);
        Function1<Seq<Expression>, Expression> builder = args -> {
            List<Expression> a = CollectionConverters.asJava(args);
            if (a.size() == 1) {
                return one.apply(new Column(a.get(0))).expr();
            }
            if (a.size() == 2) {
                return two.apply(new Column(a.get(0)), new Column(a.get(1))).expr();
            }
            throw new IllegalArgumentException(NAME + " takes (prompt) or (prompt, options_map) but got "
                    + a.size() + " arguments");
        };
        spark.sessionState().functionRegistry().createOrReplaceTempFunction(NAME, builder, "scala_udf");
        return metrics;
    }

    /** The per-row body of the UDF; serializable, shipped to executors with the settings (never the engine). */
    static final class SqlGenerate implements Serializable {
        private final PpsdSettings settings;
        private final PpsdMetrics metrics;

        SqlGenerate(PpsdSettings settings, PpsdMetrics metrics) {
            this.settings = settings;
            this.metrics = metrics;
        }

        Row call1(String prompt) {
            return call2(prompt, null);
        }

        Row call2(String prompt, Object options) {
            RowResult r = generate(prompt, options);
            metrics.add(r);
            return RowFactory.create(r.values());
        }

        private RowResult generate(String prompt, Object options) {
            Map<String, String> opts;
            String id = null;
            String label;
            try {
                opts = toMap(options);
                id = opts.remove("id");
            } catch (IllegalArgumentException e) {
                return failed(labelOf(null, prompt), e.getMessage());
            }
            label = labelOf(id, prompt);
            EngineHandle engine = settings.engine();
            Overrides o = Overrides.NONE;
            try {
                for (Map.Entry<String, String> e : opts.entrySet()) {
                    switch (e.getKey()) {
                        case "mode" -> {
                            PpsdConf.check(PpsdConf.MODE, e.getValue());
                            engine = engine.with(Settings.MODE, e.getValue());
                        }
                        case "exit_layer" -> {
                            Object v = PpsdConf.parse(PpsdConf.EXIT_LAYER, e.getValue());
                            PpsdConf.check(PpsdConf.EXIT_LAYER, v);
                            engine = engine.with(Settings.EXIT_LAYER, (Integer) v);
                        }
                        default -> {
                            if (!RowRequests.OVERRIDES.contains(e.getKey())) {
                                throw new IllegalArgumentException("unknown option " + e.getKey() + " (known: id, mode,"
                                        + " exit_layer, " + String.join(", ", RowRequests.OVERRIDES) + ")");
                            }
                            o = RowRequests.withOption(o, e.getKey(), e.getValue());
                        }
                    }
                }
            } catch (IllegalArgumentException e) {
                return failed(label, e.getMessage().replace(PpsdConf.PREFIX, ""));
            }
            Prepared p = RowRequests.prepare(settings, id, label, prompt, o);
            if (!p.isOk()) {
                return failed(label, p.error());
            }
            try (SharedEngine.Lease lease = engine.lease(TaskContext.get())) {
                p = RowRequests.fit(p, lease.engine(), settings.promptTooLong());
                if (!p.isOk()) {
                    return failed(label, p.error());
                }
                GenerationResult g = lease.engine().generate(List.of(p.request())).get(0);
                RowResult r = RowResult.of(g);
                return r.ok() ? r : failed(label, r.error());
            }
        }

        private RowResult failed(String label, String error) {
            if (settings.failOnError()) {
                throw new PpsdRowException(label + ": " + error);
            }
            return RowResult.failed(null, error);
        }

        private static String labelOf(String id, String prompt) {
            if (id != null) {
                return "row id=" + id;
            }
            if (prompt == null) {
                return "row with a null prompt";
            }
            return "row with prompt \"" + (prompt.length() > 40 ? prompt.substring(0, 40) + "..." : prompt) + "\"";
        }

        private static Map<String, String> toMap(Object options) {
            Map<String, String> out = new LinkedHashMap<>();
            if (options == null) {
                return out;
            }
            Map<?, ?> m;
            if (options instanceof scala.collection.Map<?, ?> sm) {
                m = CollectionConverters.asJava(sm);
            } else if (options instanceof Map<?, ?> jm) {
                m = jm;
            } else {
                throw new IllegalArgumentException("options must be a map<string,string> but got "
                        + options.getClass().getSimpleName());
            }
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put(String.valueOf(e.getKey()), e.getValue() == null ? null : String.valueOf(e.getValue()));
            }
            return out;
        }
    }
}
