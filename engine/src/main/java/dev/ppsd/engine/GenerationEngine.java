package dev.ppsd.engine;

import dev.ppsd.engine.chat.ChatTemplate;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.guided.GuidedDecoding;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.schedule.SchedulerFactory;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import dev.ppsd.engine.runtime.DjlRuntime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The engine's entry point: a model folder (weights + tokenizer) and a scheduler. {@link #generate} takes
 * prompts and returns one result per prompt, in order; a bad prompt gets an error in its own result and
 * never stops the others. Thread-safe: calls are serialised.
 *
 * <pre>{@code
 * try (GenerationEngine engine = GenerationEngine.open(EngineOptions.of(Path.of("models/ppsd-mini")))) {
 *     GenerationResult r = engine.generate(List.of(
 *             new GenerationRequest("1", "In the beginning", SamplingParams.greedy(32)))).get(0);
 *     System.out.println(r.text());
 * }
 * }</pre>
 */
public final class GenerationEngine implements AutoCloseable {
    private final EngineOptions options;
    private final LlamaModel model;
    private final TextTokenizer tokenizer;
    private final Scheduler scheduler;
    private StopCriteria stop;
    private final boolean ownsModel;
    private boolean closed;
    private ChatTemplate chatTemplate;
    private final GuidedDecoding guided;

    private GenerationEngine(EngineOptions options, LlamaModel model, boolean ownsModel, TextTokenizer tokenizer,
            Scheduler scheduler) {
        this.options = options;
        this.ownsModel = ownsModel;
        this.model = model;
        this.tokenizer = tokenizer;
        this.scheduler = scheduler;
        Set<Integer> eos = new HashSet<>(model.config().eosTokenIds());
        this.stop = new StopCriteria(eos, tokenizer);
        this.guided = new GuidedDecoding(options.modelDir(), model.config());
    }

    /** Loads the model and tokenizer and builds the scheduler; errors name the file or option at fault. */
    public static GenerationEngine open(EngineOptions options) {
        return open(options, LlamaModel.load(options.modelDir()), true);
    }

    /**
     * An engine over an already loaded {@code model} of {@code options.modelDir()}, which stays open when the
     * engine closes: benchmarks compare modes on the very same weights in memory.
     */
    public static GenerationEngine open(EngineOptions options, LlamaModel model) {
        return open(options, model, false);
    }

    private static GenerationEngine open(EngineOptions options, LlamaModel model, boolean ownsModel) {
        TextTokenizer tok = null;
        try {
            tok = TextTokenizer.load(options.modelDir());
            return new GenerationEngine(options, model, ownsModel, tok, SchedulerFactory.create(model, options));
        } catch (RuntimeException e) {
            if (tok != null) {
                tok.close(); // a bad scheduler option must not leak the native tokenizer
            }
            if (ownsModel) {
                model.close();
            }
            throw e;
        }
    }

    /** The scheduler this engine decodes with. */
    public Scheduler scheduler() {
        return scheduler;
    }

    public EngineOptions options() {
        return options;
    }

    public LlamaModel model() {
        return model;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * Benchmarks only: decode every request to its full {@code max_new_tokens}, past EOS (vLLM's
     * {@code ignore_eos}), so that modes are compared on the same number of tokens.
     */
    public synchronized void ignoreEos() {
        stop = stop.ignoringEos();
    }

    /** Decodes every request; results come back in request order. */
    public synchronized List<GenerationResult> generate(List<GenerationRequest> requests) {
        DjlRuntime.pinIntraOpThreads();
        List<Sequence> seqs = new ArrayList<>();
        GenerationResult[] out = new GenerationResult[requests.size()];
        Sequence[] byIndex = new Sequence[requests.size()];
        int context = model.config().maxPositionEmbeddings();
        for (int i = 0; i < requests.size(); i++) {
            GenerationRequest r = requests.get(i);
            try {
                Sequence s = new Sequence(r, promptIds(r), context, guided.rules(r.params()));
                byIndex[i] = s;
                seqs.add(s);
            } catch (IllegalArgumentException e) {
                out[i] = GenerationResult.failed(r.id(), scheduler.mode(), e.getMessage());
            }
        }
        scheduler.run(seqs, stop);
        for (int i = 0; i < out.length; i++) {
            Sequence s = byIndex[i];
            if (s != null) {
                int[] gen = s.generated();
                String text = s.stopText() != null ? s.stopText() : tokenizer.decode(gen, gen.length);
                out[i] = new GenerationResult(s.request().id(), text, gen, s.promptIds(), s.finishReason(),
                        s.wallMs(), scheduler.mode(), s.spec(), null, guided.incomplete(s.params(), text));
            }
        }
        return List.of(out);
    }

    /**
     * The prompt's token ids as fed to the model (a chat rendered by the model's chat template), after the
     * {@code prompt_too_long} rule: a prompt fits when it has
     * fewer tokens than the context C; otherwise {@code error} fails the request and {@code truncate} keeps its first
     * token when that is the BOS and the end of the rest, {@code C - min(max(max_new_tokens, 1), C / 2)} tokens in
     * all, so that the budget still has room.
     */
    int[] promptIds(GenerationRequest r) {
        int[] ids;
        if (r.messages() != null) {
            ids = chatTemplate().promptIds(tokenizer, r.messages());
        } else if (r.prompt().isEmpty()) {
            throw new IllegalArgumentException("prompt is empty");
        } else {
            ids = tokenizer.encode(r.prompt());
        }
        int context = model.config().maxPositionEmbeddings();
        if (ids.length < context) {
            return ids;
        }
        if (!r.params().get(Settings.PROMPT_TOO_LONG).equals("truncate")) {
            throw new IllegalArgumentException("prompt has " + ids.length + " tokens but the model's context is "
                    + context + " (max_position_embeddings); set " + Settings.PROMPT_TOO_LONG.name()
                    + "=truncate to keep its end");
        }
        int keep = context - Math.min(Math.max(r.params().get(Settings.MAX_NEW_TOKENS), 1), context / 2);
        int head = ids[0] == model.config().bosTokenId() ? 1 : 0;
        int[] out = new int[keep];
        System.arraycopy(ids, 0, out, 0, head);
        System.arraycopy(ids, ids.length - (keep - head), out, head, keep - head);
        return out;
    }

    /** The model's chat template, loaded on the first request with messages (it costs a JS engine's start). */
    private synchronized ChatTemplate chatTemplate() {
        if (chatTemplate == null) {
            chatTemplate = ChatTemplate.load(options.modelDir()); // names what is missing when there is none
        }
        return chatTemplate;
    }

    /** Guided decoding of this engine: its compiled constraints and their counters. */
    public GuidedDecoding guided() {
        return guided;
    }

    /** Whether {@link #close} was called. */
    public synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        scheduler.close();
        tokenizer.close();
        if (ownsModel) {
            model.close();
        }
    }
}
