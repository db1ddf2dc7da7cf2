package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.util.List;
import java.util.Set;

/**
 * Stopping rules other than the token budget: an EOS id, or a stop string appearing in the decoded text.
 * A stop string is looked for in the decoded tail of the generated tokens that could hold a match ending at
 * the newest token (every token is at least one byte, a character at most four), and the whole text is
 * decoded only to cut it once a match is found, so checking costs the same at token 10 and at token 10,000.
 */
public final class StopCriteria {
    private final Set<Integer> eosIds;
    private final TextTokenizer tokenizer;

    public StopCriteria(Set<Integer> eosIds, TextTokenizer tokenizer) {
        this.eosIds = Set.copyOf(eosIds);
        this.tokenizer = tokenizer;
    }

    /** The reason {@code seq} stops after committing {@code token}, or null to go on. */
    FinishReason check(Sequence seq, int token) {
        if (eosIds.contains(token) && !seq.params().get(Settings.IGNORE_EOS)) {
            return FinishReason.EOS;
        }
        if (seq.params().get(Settings.STOP_TOKEN_IDS).contains(token)) {
            seq.setStopReason(token);
            return FinishReason.STOP;
        }
        List<String> stops = seq.params().get(Settings.STOP);
        if (!stops.isEmpty() && tokenizer != null) {
            int[] gen = seq.generated();
            int longest = 0;
            for (String s : stops) {
                longest = Math.max(longest, s.length());
            }
            int window = 4 * longest + 4; // tokens that cover the last `longest` characters
            if (gen.length > window) {
                String tail = tokenizer.decode(java.util.Arrays.copyOfRange(gen, gen.length - window, gen.length),
                        window);
                if (stops.stream().noneMatch(tail::contains)) {
                    return null;
                }
            }
            String text = tokenizer.decode(gen, gen.length);
            int cut = -1;
            for (String s : stops) {
                int at = text.indexOf(s);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            if (cut >= 0) {
                seq.setStopText(text.substring(0, cut));
                for (String s : stops) {
                    if (text.indexOf(s) == cut) {
                        seq.setStopReason(s);
                        break;
                    }
                }
                return FinishReason.STOP;
            }
        }
        return null;
    }
}
