package dev.ppsd.engine.decode;

import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.util.Set;

/** Stopping rules other than the token budget: an EOS id, or a stop string appearing in the decoded text. */
public final class StopCriteria {
    private final Set<Integer> eosIds;
    private final TextTokenizer tokenizer;

    public StopCriteria(Set<Integer> eosIds, TextTokenizer tokenizer) {
        this.eosIds = Set.copyOf(eosIds);
        this.tokenizer = tokenizer;
    }

    /** The reason {@code seq} stops after committing {@code token}, or null to go on. */
    FinishReason check(Sequence seq, int token) {
        if (eosIds.contains(token)) {
            return FinishReason.EOS;
        }
        if (!seq.params().stop().isEmpty() && tokenizer != null) {
            int[] gen = seq.generated();
            String text = tokenizer.decode(gen, gen.length);
            int cut = -1;
            for (String s : seq.params().stop()) {
                int at = text.indexOf(s);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            if (cut >= 0) {
                seq.setStopText(text.substring(0, cut));
                return FinishReason.STOP;
            }
        }
        return null;
    }
}
