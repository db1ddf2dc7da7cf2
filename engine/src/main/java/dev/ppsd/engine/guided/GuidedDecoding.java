package dev.ppsd.engine.guided;

import com.google.gson.Gson;
import dev.ppsd.engine.decode.LogitsRule;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Guided (constrained) decoding for one engine: turns a request's {@code guided_choice}, {@code guided_regex} or
 * {@code guided_json} into the {@link LogitsRule} of its sequence, so that every generated text satisfies its
 * constraint under every scheduler (the rule masks the target's and the drafter's logits alike).
 *
 * <p>Each distinct constraint is compiled once per engine ({@link #MAX_CONSTRAINTS} kept, least recently used out)
 * into a {@link Constraint} whose per-state token masks are shared by every row that uses it; the vocabulary's token
 * bytes ({@link TokenTable}) are read on the first guided request. A bad constraint (invalid regex, unsupported
 * schema keyword, a text nothing satisfies, more than one guided setting) throws IllegalArgumentException with the
 * reason, which fails that request only.
 *
 * <pre>{@code
 * SamplingParams p = SamplingParams.greedy(32).withValue(Settings.GUIDED_CHOICE, List.of("positive", "negative"));
 * engine.generate(List.of(new GenerationRequest("1", "Review: great film. Sentiment:", p)));   // text: " positive"?
 * }</pre>
 * (the text is exactly one of the choices: {@code "positive"} or {@code "negative"}).
 */
public final class GuidedDecoding {
    /** Compiled constraints kept per engine. */
    public static final int MAX_CONSTRAINTS = 64;
    private static final Gson GSON = new Gson();

    private final Path tokenizerJson;
    private final int vocabSize;
    private final int[] eos;
    private TokenTable table;
    private IllegalArgumentException tableError;
    /** Constraint text -> its {@link Constraint}, or the IllegalArgumentException it fails with. */
    private final Map<String, Object> compiled = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Object> e) {
            return size() > MAX_CONSTRAINTS;
        }
    };
    private final LongAdder compiles = new LongAdder();
    private final LongAdder compileNanos = new LongAdder();
    private final LongAdder maskBuilds = new LongAdder();
    private final LongAdder maskBuildNanos = new LongAdder();
    private final LongAdder applies = new LongAdder();
    private final LongAdder applyNanos = new LongAdder();

    /** Guided decoding for the model in {@code modelDir} (its tokenizer.json is read on first use). */
    public GuidedDecoding(Path modelDir, LlamaConfig config) {
        this.tokenizerJson = modelDir.resolve("tokenizer.json");
        this.vocabSize = config.vocabSize();
        this.eos = config.eosTokenIds().stream().mapToInt(Integer::intValue).filter(e -> e >= 0 && e < vocabSize)
                .distinct().toArray();
    }

    /** Counters since the engine opened: compiles, masks built, rule applications, and the time each took. */
    public record Stats(long compiles, double compileMs, long maskBuilds, double maskBuildMs, long applies,
            double applyMs) {
        /** The counters of {@code this} minus {@code before}. */
        public Stats minus(Stats before) {
            return new Stats(compiles - before.compiles, compileMs - before.compileMs, maskBuilds - before.maskBuilds,
                    maskBuildMs - before.maskBuildMs, applies - before.applies, applyMs - before.applyMs);
        }
    }

    /** The counters so far. */
    public Stats stats() {
        return new Stats(compiles.sum(), compileNanos.sum() / 1e6, maskBuilds.sum(), maskBuildNanos.sum() / 1e6,
                applies.sum(), applyNanos.sum() / 1e6);
    }

    /** The logits rules of a request with {@code params}: none without a constraint, else its guided rule. */
    public List<LogitsRule> rules(SamplingParams params) {
        Constraint c = constraint(params);
        return c == null ? List.of() : List.of(new GuidedRule(c, applies, applyNanos));
    }

    /**
     * Whether {@code text}, the final text of a request with {@code params}, fails to satisfy its constraint (the
     * budget or a stop string ended it first); null for a request without a constraint.
     */
    public Boolean incomplete(SamplingParams params, String text) {
        Constraint c = constraint(params);
        return c == null ? null : !c.matches(text);
    }

    /** The compiled constraint of {@code params}, or null; throws IllegalArgumentException for a bad one. */
    synchronized Constraint constraint(SamplingParams params) {
        List<String> choice = params.get(Settings.GUIDED_CHOICE);
        String regex = params.get(Settings.GUIDED_REGEX);
        String json = params.get(Settings.GUIDED_JSON);
        List<String> given = new ArrayList<>();
        if (!choice.isEmpty()) {
            given.add(Settings.GUIDED_CHOICE.name());
        }
        if (!regex.isEmpty()) {
            given.add(Settings.GUIDED_REGEX.name());
        }
        if (!json.isEmpty()) {
            given.add(Settings.GUIDED_JSON.name());
        }
        if (given.isEmpty()) {
            return null;
        }
        if (given.size() > 1) {
            throw new IllegalArgumentException("at most one of guided_choice, guided_regex and guided_json may be set"
                    + " but this request has " + String.join(" and ", given));
        }
        String name = given.get(0);
        String value = name.equals(Settings.GUIDED_CHOICE.name()) ? GSON.toJson(choice)
                : name.equals(Settings.GUIDED_REGEX.name()) ? regex : json;
        String key = name + "\u0000" + value;
        Object c = compiled.get(key);
        if (c == null) {
            long t0 = System.nanoTime();
            try {
                c = compile(name, choice, regex, json);
                compiles.increment();
                compileNanos.add(System.nanoTime() - t0);
            } catch (IllegalArgumentException e) {
                c = e; // the same bad constraint on other rows fails at once, with the same reason
            }
            compiled.put(key, c);
        }
        if (c instanceof IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        return (Constraint) c;
    }

    private Constraint compile(String name, List<String> choice, String regex, String json) {
        if (eos.length == 0) {
            throw new IllegalArgumentException(name + ": guided decoding needs the model's EOS token"
                    + " (eos_token_id in config.json) to end a text");
        }
        if (table == null && tableError == null) {
            try {
                table = TokenTable.load(tokenizerJson, vocabSize);
            } catch (IllegalArgumentException e) {
                tableError = e;
            }
        }
        if (tableError != null) {
            throw new IllegalArgumentException(name + ": " + tableError.getMessage(), tableError);
        }
        if (name.equals(Settings.GUIDED_CHOICE.name())) {
            return Constraint.compileStrings(name, choice, table, eos, maskBuilds, maskBuildNanos);
        }
        String dk = name.equals(Settings.GUIDED_REGEX.name()) ? RegexSyntax.translate(regex, name).regex()
                : JsonSchemaRegex.toRegex(json);
        return Constraint.compile(name, dk, table, eos, maskBuilds, maskBuildNanos);
    }
}
