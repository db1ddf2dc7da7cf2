package dev.ppsd.udf;

import dev.ppsd.udf.RowRequests.Prepared;
import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;
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
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The SQL face: {@code ppsd_generate(prompt [, options_map])} — or {@code ppsd_generate(messages [, options_map])}
 * with a chat, an {@code array<struct<role, content>>} rendered by the model's chat template — returns a struct of
 * {@code generated_text},
 * {@code finish_reason}, {@code prompt_tokens}, {@code new_tokens}, {@code acceptance}, {@code tokens_per_s},
 * {@code error}, {@code incomplete}.
 *
 * <pre>{@code
 * spark.conf().set("spark.ppsd.model", "/models/ppsd-mini");   // read when registering
 * PpsdFunctions.register(spark);
 * spark.sql("SELECT id, ppsd_generate(prompt).generated_text FROM prompts");
 * spark.sql("SELECT id, ppsd_generate(prompt, map('max_new_tokens', '16', 'temperature', '0.8')) AS g FROM prompts");
 * }</pre>
 *
 * Option keys: every setting of the engine's table ({@code Settings}) by its name — the request settings
 * ({@code max_new_tokens}, {@code temperature}, {@code top_k}, {@code top_p}, {@code seed}, {@code stop}: one string
 * or a JSON array, ...) and the engine settings ({@code mode}, {@code exit_layer}, ...: another engine of the
 * executor) — and {@code id} (the key of the derived seed and the name of the row in errors; without it the prompt
 * text is the seed key). An unknown key or a bad value fails that row only (message in {@code error}). Everything
 * else comes from the {@code spark.ppsd.*} confs read at {@link #register} time.
 *
 * <p>Throughput: Spark calls a UDF one row at a time, so each call hands one row to the executor's engine; rows of
 * concurrently running tasks still meet in the engine's batch, but a batch never holds more rows than the executor
 * runs tasks. For bulk generation prefer {@link PpsdGenerator}, which sends {@code batch_size} rows at a time.
 */
public final class PpsdFunctions {
    /** The SQL function name. */
    public static final String NAME = "ppsd_generate";

    private PpsdFunctions() {
    }

    /**
     * Registers {@code ppsd_generate} in {@code spark}'s session with the {@code spark.ppsd.*} settings in effect
     * now (the model: {@code spark.ppsd.model}); returns the accumulators its calls update
     * ({@code ppsd_generate.rows}, ...). A session started with {@code spark.sql.extensions=dev.ppsd.udf.PpsdExtensions}
     * has the function without this call ({@link PpsdExtensions}).
     */
    public static PpsdMetrics register(SparkSession spark) {
        JobSettings settings = JobSettings.fromConf(JobSettings.conf(spark));
        settings.handle().validate();
        PpsdMetrics metrics = PpsdMetrics.register(spark.sparkContext(), NAME);
        spark.sessionState().functionRegistry().createOrReplaceTempFunction(NAME,
                args -> expression(new SqlGenerate(settings, metrics), args), "scala_udf");
        return metrics;
    }

    /** The function's expression for the arguments of one call site: {@code (input)} or {@code (input, options)}. */
    static Expression expression(SqlGenerate fn, Seq<Expression> args) {
        List<Expression> a = CollectionConverters.asJava(args);
        StructType type = OutputColumns.SQL.struct();
        if (a.size() == 1) {
            UserDefinedFunction one = functions.udf((UDF1<Object, Row>) fn::call1, type).withName(NAME);
            return one.apply(new Column(a.get(0))).expr();
        }
        if (a.size() == 2) {
            UserDefinedFunction two = functions.udf((UDF2<Object, Object, Row>) fn::call2, type).withName(NAME);
            return two.apply(new Column(a.get(0)), new Column(a.get(1))).expr();
        }
        throw new IllegalArgumentException(NAME + " takes (prompt) or (prompt, options_map) but got " + a.size()
                + " arguments");
    }

    /** The per-row body of the UDF; serializable, shipped to executors with the settings (never the engine). */
    static final class SqlGenerate implements Serializable {
        private final JobSettings settings;
        private final PpsdMetrics metrics;

        SqlGenerate(JobSettings settings, PpsdMetrics metrics) {
            this.settings = settings;
            this.metrics = metrics;
        }

        Row call1(Object input) {
            return call2(input, null);
        }

        Row call2(Object input, Object options) {
            RowResult r = generate(input, options);
            metrics.add(r);
            return RowFactory.create(r.values(OutputColumns.SQL));
        }

        /** {@code input}: the prompt (a string), or a chat (an array of struct role, content). */
        private RowResult generate(Object input, Object options) {
            String prompt = input instanceof String s ? s : null;
            List<ChatMessage> chat;
            Map<String, String> opts;
            try {
                chat = input instanceof scala.collection.Seq<?> seq
                        ? RowRequests.messages(CollectionConverters.asJava(seq).stream().map(Row.class::cast).toList())
                        : null;
                if (input != null && prompt == null && chat == null) {
                    throw new IllegalArgumentException(NAME + " takes a prompt (string) or messages (array of struct"
                            + " role, content) but got " + input.getClass().getSimpleName());
                }
                opts = toMap(options);
            } catch (IllegalArgumentException e) {
                return failed(labelOf(null, prompt), e.getMessage());
            }
            String id = opts.remove("id");
            String label = labelOf(id, prompt);
            EngineHandle engine = settings.handle();
            Map<Setting<?>, Object> own = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, String> e : opts.entrySet()) {
                    Setting<?> s = Settings.named(e.getKey());
                    if (s == null) {
                        throw new IllegalArgumentException("unknown option " + e.getKey() + " (known: id, "
                                + String.join(", ", Settings.names()) + ")");
                    }
                    if (e.getValue() == null) {
                        continue;
                    }
                    if (s.scope() == Setting.Scope.ENGINE) {
                        engine = engine.with(s, e.getValue());
                    } else {
                        own.put(s, e.getValue());
                    }
                }
            } catch (IllegalArgumentException e) {
                return failed(label, e.getMessage());
            }
            Prepared p = RowRequests.prepare(settings, id, label, prompt, chat, own);
            if (!p.isOk()) {
                return failed(label, p.error());
            }
            if (p.request().params().get(Settings.N) > 1) {
                return failed(label, "n > 1 needs a row per sample: use PpsdGenerator or ppsd-job (" + NAME
                        + " returns one value per row)");
            }
            RowResult r = RowResult.of(engine.generate(List.of(p.request())).get(0));
            return r.ok() ? r : failed(label, r.error());
        }

        private RowResult failed(String label, String error) {
            if (settings.job().get(JobOptions.FAIL_ON_ERROR)) {
                throw new PpsdRowException(label + ": " + error);
            }
            return RowResult.failed(error);
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
