package dev.ppsd.udf;

import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Names of the result columns, in output order: generated text, finish reason, stop reason, prompt tokens, new
 * tokens, acceptance (null when no drafts were proposed), tokens per second, error (null when the row succeeded);
 * then, only where they can have a value: incomplete (rows with a guided_* constraint: whether the text fails to
 * satisfy it), the sample index ({@code n > 1}), the generated tokens' log-probabilities ({@code logprobs > 0}) and
 * the prompt tokens' ({@code prompt_logprobs > 0}) — null names for absent columns. The SQL function's struct is
 * {@link #SQL}.
 */
public record OutputColumns(String generatedText, String finishReason, String stopReason, String promptTokens,
        String newTokens, String acceptance, String tokensPerSecond, String error, String incomplete,
        String sampleIndex, String tokenLogprobs, String promptTokenLogprobs) implements Serializable {

    /** One alternative: {@code struct<token_id: int, token: string, logprob: double>}. */
    static final StructType ALTERNATIVE = new StructType().add("token_id", DataTypes.IntegerType)
            .add("token", DataTypes.StringType).add("logprob", DataTypes.DoubleType);
    /** One token's log-probability: an alternative plus {@code top_logprobs: array<alternative>}. */
    static final StructType LOGPROB = ALTERNATIVE.add("top_logprobs", new ArrayType(ALTERNATIVE, false));

    /**
     * The SQL function's struct: the default names with incomplete and both log-probability fields (null when not
     * asked for).
     */
    public static final OutputColumns SQL = JobOptions.defaults().output(true, false, true, true);

    private static final DataType[] TYPES = {DataTypes.StringType, DataTypes.StringType, DataTypes.StringType,
        DataTypes.IntegerType, DataTypes.IntegerType, DataTypes.DoubleType, DataTypes.DoubleType,
        DataTypes.StringType};

    /** The names in output order (absent optional columns left out). */
    public List<String> names() {
        return Arrays.stream(fields()).map(StructField::name).toList();
    }

    /** The (nullable) fields in output order. */
    public StructField[] fields() {
        List<StructField> f = new ArrayList<>();
        String[] base = {generatedText, finishReason, stopReason, promptTokens, newTokens, acceptance,
            tokensPerSecond, error};
        for (int i = 0; i < base.length; i++) {
            f.add(DataTypes.createStructField(base[i], TYPES[i], true));
        }
        if (incomplete != null) {
            f.add(DataTypes.createStructField(incomplete, DataTypes.BooleanType, true));
        }
        if (sampleIndex != null) {
            f.add(DataTypes.createStructField(sampleIndex, DataTypes.IntegerType, true));
        }
        for (String o : new String[] {tokenLogprobs, promptTokenLogprobs}) {
            if (o != null) {
                f.add(DataTypes.createStructField(o, new ArrayType(LOGPROB, false), true));
            }
        }
        return f.toArray(new StructField[0]);
    }

    /** The result struct (the SQL function's return type). */
    public StructType struct() {
        return DataTypes.createStructType(fields());
    }
}
