package dev.ppsd.udf;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import java.util.List;

/**
 * A fresh JVM's Spark session with nothing but confs: the extension, the model, a catalog table of prompts, the SQL
 * of udf/README.md. Prints every output row as {@code row\t<id>\t<text>\t<finish>\t<new_tokens>\t<error>}
 * ({@link SessionExtensionTest} runs it).
 */
public final class SessionExtensionMain {
    private SessionExtensionMain() {
    }

    public static void main(String[] args) {
        String model = args[0];
        String warehouse = args[1];
        SparkSession spark = SparkSession.builder().master("local[1]").appName("ppsd-extension")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.warehouse.dir", warehouse)
                .config("spark.sql.extensions", "dev.ppsd.udf.PpsdExtensions")
                .config("spark.ppsd.model", model)
                .getOrCreate();
        try {
            spark.sql("CREATE TABLE prompts (id INT, prompt STRING) USING parquet");
            spark.sql("INSERT INTO prompts VALUES (1, 'In the beginning'), (2, 'And God said'), (3, NULL)");
            spark.sql("CREATE TABLE out USING parquet AS SELECT id, ppsd_generate(prompt, map('max_new_tokens', '4'))"
                    + " AS g FROM prompts");
            List<Row> rows = spark.sql("SELECT id, g.generated_text, g.finish_reason, g.new_tokens, g.error FROM out"
                    + " ORDER BY id").collectAsList();
            for (Row r : rows) {
                System.out.println("row\t" + r.get(0) + "\t" + r.get(1) + "\t" + r.get(2) + "\t" + r.get(3) + "\t"
                        + r.get(4));
            }
            System.out.println("fields\t" + String.join(",", spark.table("out").schema().apply("g").dataType()
                    .simpleString()));
            spark.sql("DESCRIBE FUNCTION ppsd_generate").collectAsList().forEach(r -> System.out.println("describe\t"
                    + r.getString(0)));
        } finally {
            spark.stop();
        }
    }
}
