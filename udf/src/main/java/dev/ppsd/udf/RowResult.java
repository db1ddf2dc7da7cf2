package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.TokenLogprob;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * The outcome of one row (one sample of it) as the Spark face reports it: either the generation outputs with a null
 * error, or an error with null outputs. {@code acceptance} is null when no drafts were proposed (plain AR).
 *
 * @param text                generated text (cut before a stop string)
 * @param finishReason        {@code eos}, {@code stop} or {@code length}
 * @param stopReason          for {@code stop}: the stop string, or the stop token id as text; else null
 * @param promptTokens        prompt tokens as fed to the model
 * @param newTokens           generated tokens
 * @param acceptance          drafts accepted / proposed, or null
 * @param tokensPerSecond     generated tokens per second of the row's wall time
 * @param draftsProposed      drafts proposed by the early-exit drafter
 * @param draftsAccepted      drafts the verifier accepted
 * @param error               why the row failed, or null
 * @param incomplete          with a guided constraint, whether the text fails to satisfy it; null without one
 * @param sampleIndex         which of the row's {@code n} samples this is
 * @param tokenLogprobs       per generated token (struct token_id, token, logprob, top_logprobs), or null
 * @param promptTokenLogprobs per prompt token after the first, or null
 */
public record RowResult(String text, String finishReason, String stopReason, Integer promptTokens, Integer newTokens,
        Double acceptance, Double tokensPerSecond, long draftsProposed, long draftsAccepted, String error,
        Boolean incomplete, int sampleIndex, List<Row> tokenLogprobs, List<Row> promptTokenLogprobs) {

    /** The row result of an engine result (an engine-reported error keeps null outputs). */
    public static RowResult of(GenerationResult r) {
        if (!r.ok()) {
            return failed(r.error());
        }
        long proposed = r.spec().draftsProposed();
        return new RowResult(r.text(), r.finishReason() == null ? null : r.finishReason().wire(),
                r.stopReason() == null ? null : r.stopReason().toString(), r.promptTokens(), r.newTokens(),
                proposed == 0 ? null : r.spec().acceptance(), r.tokensPerSecond(), proposed,
                r.spec().draftsAccepted(), null, r.incomplete(), r.sampleIndex(), rows(r.logprobs()),
                rows(r.promptLogprobs()));
    }

    /** A row that failed with {@code error}: null outputs. */
    public static RowResult failed(String error) {
        return new RowResult(null, null, null, null, null, null, null, 0, 0, error, null, 0, null, null);
    }

    /** Whether the row succeeded. */
    public boolean ok() {
        return error == null;
    }

    /** The values of {@code cols}' columns, in their order. */
    public Object[] values(OutputColumns cols) {
        List<Object> v = new ArrayList<>(java.util.Arrays.asList(text, finishReason, stopReason, promptTokens,
                newTokens, acceptance, tokensPerSecond, error));
        if (cols.incomplete() != null) {
            v.add(incomplete);
        }
        if (cols.sampleIndex() != null) {
            v.add(ok() ? sampleIndex : null);
        }
        if (cols.tokenLogprobs() != null) {
            v.add(seq(tokenLogprobs));
        }
        if (cols.promptTokenLogprobs() != null) {
            v.add(seq(promptTokenLogprobs));
        }
        return v.toArray();
    }

    /** A Spark row's array value: a Scala sequence (what both the row encoder and the UDF converters take). */
    private static scala.collection.Seq<Row> seq(List<Row> l) {
        return l == null ? null : scala.jdk.javaapi.CollectionConverters.asScala(l);
    }

    /** Log-probabilities as rows of {@link OutputColumns#LOGPROB}; -Infinity (a token ruled out) as null. */
    private static List<Row> rows(List<TokenLogprob> l) {
        if (l == null) {
            return null;
        }
        List<Row> out = new ArrayList<>(l.size());
        for (TokenLogprob t : l) {
            List<Row> top = new ArrayList<>(t.topTokens().length);
            for (int i = 0; i < t.topTokens().length; i++) {
                top.add(RowFactory.create(t.topTokens()[i], t.topTexts()[i], finite(t.topLogprobs()[i])));
            }
            out.add(RowFactory.create(t.token(), t.text(), finite(t.logprob()), seq(top)));
        }
        return out;
    }

    private static Double finite(float x) {
        return Float.isInfinite(x) || Float.isNaN(x) ? null : (double) x;
    }
}
