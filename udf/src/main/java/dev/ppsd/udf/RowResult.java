package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationResult;

import java.util.Arrays;
import java.util.Objects;

/**
 * The outcome of one row as the Spark face reports it: either the generation outputs with a null error, or an
 * error with null outputs. {@code acceptance} is null when no drafts were proposed (plain AR).
 *
 * @param id              the request id
 * @param text            generated text (cut before a stop string)
 * @param finishReason    {@code eos}, {@code stop} or {@code length}
 * @param promptTokens    prompt tokens as fed to the model
 * @param newTokens       generated tokens
 * @param tokenIds        generated token ids (empty on error)
 * @param acceptance      drafts accepted / proposed, or null
 * @param tokensPerSecond generated tokens per second of the row's wall time
 * @param draftsProposed  drafts proposed by the early-exit drafter
 * @param draftsAccepted  drafts the verifier accepted
 * @param error           why the row failed, or null
 * @param incomplete      with a guided constraint, whether the text fails to satisfy it; null without one
 */
public record RowResult(String id, String text, String finishReason, Integer promptTokens, Integer newTokens,
        int[] tokenIds, Double acceptance, Double tokensPerSecond, long draftsProposed, long draftsAccepted,
        String error, Boolean incomplete) {

    /** The row result of an engine result (an engine-reported error keeps null outputs). */
    public static RowResult of(GenerationResult r) {
        if (!r.ok()) {
            return failed(r.id(), r.error());
        }
        long proposed = r.spec().draftsProposed();
        return new RowResult(r.id(), r.text(), r.finishReason() == null ? null : r.finishReason().wire(),
                r.promptTokens(), r.newTokens(), r.tokenIds(), proposed == 0 ? null : r.spec().acceptance(),
                r.tokensPerSecond(), proposed, r.spec().draftsAccepted(), null, r.incomplete());
    }

    /** A row that failed with {@code error}: null outputs. */
    public static RowResult failed(String id, String error) {
        return new RowResult(id, null, null, null, null, new int[0], null, null, 0, 0, error, null);
    }

    /** Whether the row succeeded. */
    public boolean ok() {
        return error == null;
    }

    /** The output column values in {@link OutputColumns} order. */
    public Object[] values() {
        return new Object[] {text, finishReason, promptTokens, newTokens, acceptance, tokensPerSecond, error,
            incomplete};
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RowResult r && Objects.equals(id, r.id) && Objects.equals(text, r.text)
                && Objects.equals(finishReason, r.finishReason) && Objects.equals(promptTokens, r.promptTokens)
                && Objects.equals(newTokens, r.newTokens) && Arrays.equals(tokenIds, r.tokenIds)
                && Objects.equals(acceptance, r.acceptance) && Objects.equals(tokensPerSecond, r.tokensPerSecond)
                && draftsProposed == r.draftsProposed && draftsAccepted == r.draftsAccepted
                && Objects.equals(error, r.error) && Objects.equals(incomplete, r.incomplete);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, text, finishReason, promptTokens, newTokens, Arrays.hashCode(tokenIds), error);
    }

    @Override
    public String toString() {
        return "RowResult[id=" + id + ", text=" + text + ", finishReason=" + finishReason + ", promptTokens="
                + promptTokens + ", newTokens=" + newTokens + ", tokenIds=" + Arrays.toString(tokenIds)
                + ", acceptance=" + acceptance + ", tokensPerSecond=" + tokensPerSecond + ", drafts="
                + draftsAccepted + "/" + draftsProposed + ", error=" + error + ", incomplete=" + incomplete + "]";
    }
}
