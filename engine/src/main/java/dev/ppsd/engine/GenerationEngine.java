package dev.ppsd.engine;

import dev.ppsd.engine.chat.ChatTemplate;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.LogitsRules;
import dev.ppsd.engine.decode.TokenLogprob;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.guided.GuidedDecoding;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.schedule.DrafterPlan;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.schedule.SchedulerFactory;
import dev.ppsd.engine.schedule.StageDevices;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import dev.ppsd.engine.runtime.DjlRuntime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The engine's entry point: a model folder (weights + tokenizer) and a scheduler. {@link #generate} takes
 * prompts and returns one result per prompt, in order; a bad prompt gets an error in its own result and
 * never stops the others. Thread-safe, and continuously batched: the engine's worker thread runs the scheduler
 * over one live queue, so the requests of concurrent callers share the batch's slots, and a slot whose sequence
 * ends is refilled at once.
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
    private final StopCriteria stop;
    private final Set<Integer> eosIds;
    private final EngineQueue queue = new EngineQueue();
    private final Thread worker;
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
        this.eosIds = Set.copyOf(new HashSet<>(model.config().eosTokenIds()));
        this.stop = new StopCriteria(eosIds, tokenizer);
        this.worker = new Thread(this::work, "ppsd-engine-" + WORKERS.incrementAndGet());
        worker.setDaemon(true);
        worker.start();
        this.guided = new GuidedDecoding(options.modelDir(), model.config());
    }

    private static final java.util.concurrent.atomic.AtomicInteger WORKERS = new java.util.concurrent.atomic.AtomicInteger();

    /** The worker: runs the scheduler whenever sequences wait; a failure fails every caller. */
    private void work() {
        DjlRuntime.configureThread();
        try {
            while (queue.awaitWork()) {
                try {
                    scheduler.run(queue, stop);
                } catch (Throwable t) {
                    queue.fail(t);
                    return;
                }
            }
        } catch (InterruptedException e) {
            queue.fail(e);
        }
    }

    /**
     * Loads the model (in the {@code dtype} setting's type) and tokenizer and builds the scheduler; errors name the
     * file or option at fault.
     */
    public static GenerationEngine open(EngineOptions options) {
        return open(options, loadModel(options), true);
    }

    /**
     * Loads the model of {@code options} as {@link #open(EngineOptions)} does: in the {@code dtype} setting's type,
     * on the first stage's device for {@code ar} and {@code eesd} (they run where the model is) and on the CPU for
     * a pipeline (which copies each stage's layers to its own device). The caller closes it.
     */
    public static LlamaModel loadModel(EngineOptions options) {
        DjlRuntime.init();
        List<String> stages = options.stageDevices(StageDevices.visibleGpus());
        boolean gpu = StageDevices.anyGpu(stages);
        String mode = options.get(Settings.MODE);
        ai.djl.Device device = mode.equals("ar") || mode.equals("eesd") ? StageDevices.parse(stages).get(0)
                : ai.djl.Device.cpu();
        return LlamaModel.load(options.modelDir(), device, options.get(Settings.DTYPE), gpu);
    }

    /**
     * Checks, without loading any weight, what {@link #open} would refuse about the model folder: its config, every
     * checkpoint header against the config (names, shapes, data inside the files), the tokenizer, the trained exit
     * heads the options may load (each header checked against the model), the exit layer, the dtype and, when
     * {@code devices} (this process runs the stages), the stage devices. Throws {@link
     * dev.ppsd.engine.checkpoint.ModelLoadException} (naming the file) or IllegalArgumentException (naming the
     * setting). Costs a read of the headers and the tokenizer: a Spark driver runs it before starting a job.
     */
    public static void check(EngineOptions options, boolean devices) {
        DjlRuntime.init();
        java.nio.file.Path dir = options.modelDir();
        LlamaConfig c = LlamaConfig.load(dir);
        LlamaWeights.check(dir, c);
        TextTokenizer.load(dir).close();
        String head = options.get(Settings.EXIT_HEAD);
        int exitLayer = options.get(Settings.EXIT_LAYER);
        if (head.equals("auto")) {
            for (java.nio.file.Path h : DrafterPlan.trainedHeadDirs(dir)) {
                ExitHead.check(h, c);
            }
        } else if (!head.equals("shared")) {
            java.nio.file.Path headDir = java.nio.file.Path.of(head);
            ExitHead.checkTrainedFor(exitLayer, headDir, ExitHead.check(headDir, c));
        }
        if (exitLayer != 0) {
            ExitHead.checkExitLayer(c, exitLayer);
        }
        List<String> stages = options.stageDevices(devices ? StageDevices.visibleGpus() : List.of());
        if (options.get(Settings.MODE).equals("spd")) {
            SpdHead.checkIn(dir, c, stages.size());
        }
        boolean gpu = StageDevices.anyGpu(stages);
        LlamaModel.dataType(options.get(Settings.DTYPE), c, gpu);
        if (devices) {
            StageDevices.parse(stages);
        }
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

    /** Decodes every request; results come back in request order. */
    public List<GenerationResult> generate(List<GenerationRequest> requests) {
        return submit(requests).results();
    }

    /**
     * Queues {@code requests} and returns at once: the results come from {@link Pending#results()}. A caller that
     * keeps a second batch queued while it waits for the first keeps the engine's slots full.
     */
    public Pending submit(List<GenerationRequest> requests) {
        List<Sequence> byIndex = new ArrayList<>();
        List<GenerationResult> failed = new ArrayList<>();
        List<Sequence> run = new ArrayList<>();
        int context = model.config().maxPositionEmbeddings();
        for (GenerationRequest r : requests) {
            try {
                for (Sequence s : samples(r, context)) {
                    byIndex.add(s);
                    failed.add(null);
                    if (!s.finished()) {
                        run.add(s);
                    }
                }
            } catch (IllegalArgumentException e) {
                byIndex.add(null);
                failed.add(GenerationResult.failed(r.id(), scheduler.mode(), e.getMessage()));
            }
        }
        queue.add(run);
        return new Pending(byIndex, failed, run);
    }

    /**
     * The request's {@code n} sequences: sample j is seeded {@code seed + j}, and waits for the first sample's
     * prefill so that it takes the prompt from the prefix cache. Throws when the request cannot run at all.
     */
    private List<Sequence> samples(GenerationRequest r, int context) {
        int[] ids = promptIds(r);
        int n = r.params().get(Settings.N);
        List<Sequence> out = new ArrayList<>(n);
        for (int j = 0; j < n; j++) {
            GenerationRequest rj = j == 0 ? r : r.with(r.params().with(Settings.SEED, r.params().get(Settings.SEED) + j));
            List<dev.ppsd.engine.decode.LogitsRule> rules = new ArrayList<>(LogitsRules.of(rj.params(), eosIds));
            rules.addAll(guided.rules(rj.params())); // the constraint's mask last: nothing re-opens what it closes
            Sequence s = new Sequence(rj, ids, context, rules);
            String refused = scheduler.refusal(s);
            if (refused != null) {
                throw new IllegalArgumentException(refused);
            }
            if (j > 0) {
                s.sampleOf(out.get(0), j);
            }
            out.add(s);
        }
        return out;
    }

    /** Requests queued by {@link #submit}: their results, once every one of them has finished. */
    public final class Pending {
        private final List<Sequence> byIndex;
        private final List<GenerationResult> failed;
        private final List<Sequence> run;

        private Pending(List<Sequence> byIndex, List<GenerationResult> failed, List<Sequence> run) {
            this.byIndex = byIndex;
            this.failed = failed;
            this.run = run;
        }

        /**
         * Waits for the requests; their results in request order: one per request, {@code n} (consecutive, by
         * {@code sampleIndex}) for a request with {@code n > 1}, one with the error for a request that failed.
         */
        public List<GenerationResult> results() {
            try {
                queue.awaitFinished(run);
            } catch (InterruptedException e) {
                queue.withdraw(run);
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the engine", e);
            }
            List<GenerationResult> out = new ArrayList<>(byIndex.size());
            for (int i = 0; i < byIndex.size(); i++) {
                Sequence s = byIndex.get(i);
                out.add(s == null ? failed.get(i) : result(s));
            }
            return List.copyOf(out);
        }
    }

    /** The result of a finished sequence, with the texts of its tokens' alternatives. */
    private GenerationResult result(Sequence s) {
        int[] gen = s.generated();
        String text = s.stopText() != null ? s.stopText() : tokenizer.decode(gen, gen.length);
        return new GenerationResult(s.request().id(), s.sampleIndex(), text, gen, s.promptIds(), s.finishReason(),
                s.stopReason(), s.wallMs(), s.ttftMs(), scheduler.mode(), s.spec(), texts(s.logprobs()),
                texts(s.promptLogprobs()), null, guided.incomplete(s.params(), text));
    }

    private List<TokenLogprob> texts(List<TokenLogprob> l) {
        return l == null ? null : l.stream().map(x -> x.withTexts(id -> tokenizer.decode(new int[] {id}, 1))).toList();
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

    /** The most sequences that were ever in flight at once, from all callers together. */
    public int peakInFlight() {
        return queue.peakRunning();
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
        queue.close();
        try {
            worker.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        scheduler.close();
        tokenizer.close();
        if (ownsModel) {
            model.close();
        }
    }
}
