package dev.ppsd.udf;

import dev.ppsd.engine.model.TinyModels;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

import java.nio.file.Files;
import java.util.List;

/**
 * The example of udf/README.md, runnable: {@code mvn -q -o -pl udf test -Dtest=ReadmeExampleTest} prints its
 * output. Pass a model folder as the first argument, or it writes a tiny random model (so the text is noise).
 */
public final class ReadmeExample {
    private ReadmeExample() {
    }

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0]
                : TinyModels.write(Files.createTempDirectory("tiny-"), TinyModels.config(2, 512), 7).toString();
        SparkSession spark = SparkSession.builder().master("local[2]").getOrCreate();

        // Dataset API: one engine per executor, batchSize rows per engine call
        Dataset<Row> prompts = spark.createDataFrame(List.of(
                RowFactory.create(1, "In the beginning"),
                RowFactory.create(2, "public static int"),
                RowFactory.create(3, null)), new StructType().add("id", "int").add("prompt", "string"));
        PpsdGenerator gen = new PpsdGenerator().setParam("model", model).setParam("max_new_tokens", 8).setParam("batch_size", 8);
        gen.transform(prompts).select("id", "generated_text", "finish_reason", "new_tokens", "error").show(false);
        System.out.println("metrics: " + gen.metrics());

        // SQL: the model comes from spark.ppsd.model when registering
        spark.conf().set("spark.ppsd.model", model);
        PpsdFunctions.register(spark);
        prompts.createOrReplaceTempView("prompts");
        spark.sql("SELECT id, ppsd_generate(prompt, map('max_new_tokens', '4')).generated_text AS text"
                + " FROM prompts WHERE id = 1").show(false);
    }
}
