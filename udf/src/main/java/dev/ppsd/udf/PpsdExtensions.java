package dev.ppsd.udf;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import scala.Tuple3;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The session extension that gives every Spark language {@code ppsd_generate} without JVM code (the convention of
 * Delta Lake, Iceberg, Sedona): start the session with the assembly jar on the classpath and
 * {@code spark.sql.extensions=dev.ppsd.udf.PpsdExtensions}, set the model with {@code spark.ppsd.model}, and call the
 * function from SQL, PySpark, SparkR or Scala.
 *
 * <pre>
 * spark-sql --jars ppsd-spark-job-&lt;v&gt;-all.jar --conf spark.sql.extensions=dev.ppsd.udf.PpsdExtensions \
 *           --conf spark.ppsd.model=/models/ppsd-mini
 * spark-sql&gt; CREATE TABLE out AS SELECT id, ppsd_generate(prompt, map('max_new_tokens', '64')) AS g FROM prompts;
 * </pre>
 *
 * The settings ({@code spark.ppsd.*}) are read each time a query that calls the function is planned, so a
 * {@code SET spark.ppsd.mode=ppsd} applies to the queries after it. Each planned query gets its own accumulators
 * ({@code ppsd_generate.rows}, ..., in the Spark UI).
 */
public final class PpsdExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        ExpressionInfo info = new ExpressionInfo(PpsdFunctions.class.getName(), null, PpsdFunctions.NAME,
                "_FUNC_(prompt [, options]) - generates the completion of a prompt (a string) or the reply to a chat"
                        + " (array of struct role, content) with the PPSD engine; returns a struct of generated_text,"
                        + " finish_reason, prompt_tokens, new_tokens, acceptance, tokens_per_s, error, incomplete",
                "", "", "", "misc_funcs", "3.5.0", "", "scala_udf");
        extensions.injectFunction(new Tuple3<>(FunctionIdentifier.apply(PpsdFunctions.NAME), info, args -> {
            SparkSession spark = SparkSession.active();
            JobSettings settings = JobSettings.fromConf(JobSettings.conf(spark));
            settings.handle().validate();
            PpsdMetrics metrics = PpsdMetrics.register(spark.sparkContext(), PpsdFunctions.NAME);
            return PpsdFunctions.expression(new PpsdFunctions.SqlGenerate(settings, metrics), args);
        }));
        return BoxedUnit.UNIT;
    }
}
