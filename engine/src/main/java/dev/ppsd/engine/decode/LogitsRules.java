package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The {@link LogitsRule}s a request's settings ask for, in the order they apply. */
public final class LogitsRules {
    private LogitsRules() {
    }

    /** Penalties, then {@code min_new_tokens} holding back {@code eosIds} and the stop token ids. */
    public static List<LogitsRule> of(SamplingParams p, Set<Integer> eosIds) {
        List<LogitsRule> rules = new ArrayList<>();
        double r = p.get(Settings.REPETITION_PENALTY);
        double presence = p.get(Settings.PRESENCE_PENALTY);
        double frequency = p.get(Settings.FREQUENCY_PENALTY);
        if (r != 1 || presence != 0 || frequency != 0) {
            rules.add(new Penalties(r, presence, frequency));
        }
        int min = p.get(Settings.MIN_NEW_TOKENS);
        if (min > 0) {
            Set<Integer> ends = new HashSet<>(p.get(Settings.STOP_TOKEN_IDS));
            ends.addAll(eosIds);
            rules.add(new HoldBackEnd(min, Set.copyOf(ends)));
        }
        return rules;
    }
}
