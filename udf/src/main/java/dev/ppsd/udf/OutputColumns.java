package dev.ppsd.udf;

import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.Serializable;
import java.util.List;

/**
 * Names of the result columns, in output order: generated text, finish reason, prompt tokens, new tokens,
 * acceptance (null when no drafts were proposed), tokens per second, error (null when the row succeeded),
 * incomplete (null without a guided constraint, else whether the text fails to satisfy it). The
 * SQL function's struct uses {@link #DEFAULT}; a job may rename them ({@link JobOptions}).
 */
public record OutputColumns(String generatedText, String finishReason, String promptTokens, String newTokens,
        String acceptance, String tokensPerSecond, String error, String incomplete) implements Serializable {

    /** generated_text, finish_reason, prompt_tokens, new_tokens, acceptance, tokens_per_s, error, incomplete. */
    public static final OutputColumns DEFAULT = JobOptions.defaults().output();

    private static final DataType[] TYPES = {DataTypes.StringType, DataTypes.StringType, DataTypes.IntegerType,
            DataTypes.IntegerType, DataTypes.DoubleType, DataTypes.DoubleType, DataTypes.StringType,
            DataTypes.BooleanType};

    /** The names in output order. */
    public List<String> names() {
        return List.of(generatedText, finishReason, promptTokens, newTokens, acceptance, tokensPerSecond, error,
                incomplete);
    }

    /** The (nullable) fields in output order. */
    public StructField[] fields() {
        List<String> n = names();
        StructField[] f = new StructField[n.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = DataTypes.createStructField(n.get(i), TYPES[i], true);
        }
        return f;
    }

    /** The result struct (the SQL function's return type). */
    public StructType struct() {
        return DataTypes.createStructType(fields());
    }
}
