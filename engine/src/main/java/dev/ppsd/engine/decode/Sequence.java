package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The per-sequence decoding state every scheduler shares: prompt ids, committed tokens, the seeded random
 * stream, the token budget (clamped to the context) and, once done, the finish reason. Schedulers only
 * {@link #commit} tokens; stopping rules live in {@link StopCriteria}.
 */
public final class Sequence {
    private final GenerationRequest request;
    private final int[] promptIds;
    private final int budget;
    private final SplittableRandom rng;
    private final List<LogitsRule> rules;
    private int[] tokens = new int[16];
    private int length;
    private FinishReason finish;
    private String stopText;
    private long startNanos;
    private long firstTokenNanos;
    private long endNanos;
    private SpecMetrics spec = SpecMetrics.NONE;
    private Object stopReason;
    // what the next commit's logprob is reported under, if logprobs: the target's warped distribution there when
    // sampled, its logits (rules applied) when greedy (softmaxed at the commit)
    private float[] target;
    private final List<TokenLogprob> logprobs;
    private List<TokenLogprob> promptLogprobs;
    private int sampleIndex;
    private Sequence leader;
    private volatile boolean prefilled;

    public Sequence(GenerationRequest request, int[] promptIds, int contextLength) {
        this(request, promptIds, contextLength, List.of());
    }

    /** A sequence whose next-token logits pass through {@code rules} (in order) before sampling and verifying. */
    public Sequence(GenerationRequest request, int[] promptIds, int contextLength, List<LogitsRule> rules) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("prompt of request " + request.id() + " encodes to no tokens");
        }
        if (promptIds.length >= contextLength) {
            throw new IllegalArgumentException("prompt of request " + request.id() + " has " + promptIds.length
                    + " tokens but the model's context is " + contextLength + " (max_position_embeddings)");
        }
        this.request = request;
        this.promptIds = promptIds;
        this.rules = List.copyOf(rules);
        this.logprobs = request.params().get(Settings.LOGPROBS) > 0 ? new java.util.ArrayList<>() : null;
        // clamped before any arithmetic: a budget near Integer.MAX_VALUE runs to the context limit
        this.budget = Math.min(request.params().get(Settings.MAX_NEW_TOKENS), contextLength - promptIds.length);
        this.rng = new SplittableRandom(request.params().get(Settings.SEED));
        if (budget == 0) {
            startNanos = System.nanoTime();
            finish(FinishReason.LENGTH);
        }
    }

    public GenerationRequest request() {
        return request;
    }

    public SamplingParams params() {
        return request.params();
    }

    public int[] promptIds() {
        return promptIds;
    }

    /** The sequence's own random stream (seeded from its params). */
    public SplittableRandom rng() {
        return rng;
    }

    /** Tokens this sequence may generate: {@code max_new_tokens}, clamped to what the context leaves. */
    public int budget() {
        return budget;
    }

    public int generatedCount() {
        return length;
    }

    /** Committed (generated) tokens so far. */
    public int[] generated() {
        return Arrays.copyOf(tokens, length);
    }

    /** Total committed length: prompt + generated. */
    public int totalLength() {
        return promptIds.length + length;
    }

    /** The token at absolute position {@code pos} (prompt or generated). */
    public int tokenAt(int pos) {
        return pos < promptIds.length ? promptIds[pos] : tokens[pos - promptIds.length];
    }

    public boolean finished() {
        return finish != null;
    }

    public FinishReason finishReason() {
        return finish;
    }

    /** The text cut before the stop string that ended the sequence, or null. */
    public String stopText() {
        return stopText;
    }

    public void markStarted() {
        if (startNanos == 0) {
            startNanos = System.nanoTime();
        }
    }

    public double wallMs() {
        return ((endNanos == 0 ? System.nanoTime() : endNanos) - startNanos) / 1e6;
    }

    /** Milliseconds from the start to the first generated token (the prompt's prefill included); NaN before it. */
    public double ttftMs() {
        return length == 0 ? Double.NaN : (firstTokenNanos - startNanos) / 1e6;
    }

    public SpecMetrics spec() {
        return spec;
    }

    public void setSpec(SpecMetrics spec) {
        this.spec = spec;
    }

    /** The target's token for the position after the committed ones (its logits changed by the rules first). */
    public int sample(float[] targetLogits) {
        float[] t = target(rules(targetLogits, NONE));
        return params().isGreedy() ? Sampler.argmax(t) : Sampler.draw(t, rng.nextDouble());
    }

    /** The draft for the position after the committed tokens and {@code pending} drafts (rules applied first). */
    public DraftProposer.Draft propose(float[] draftLogits, int[] pending) {
        return DraftProposer.propose(rules(draftLogits, pending), params(), rng);
    }

    /**
     * The verdict on {@code draft}, proposed with {@code q} for the position after the committed tokens and
     * {@code pending} drafts, from the target's logits there (rules applied first, as they were to the draft's).
     */
    public Verifier.Verdict verify(int draft, float[] targetLogits, float[] q, int[] pending) {
        float[] t = target(rules(targetLogits, pending));
        return params().isGreedy() ? Verifier.verify(draft, t, q, params(), rng) : Verifier.verify(draft, t, q, rng);
    }

    /**
     * The target at the next commit's position under the row's params: its logits when greedy, else its warped
     * distribution, built once (the draw or the verdict and the logprob are taken under it); kept for the logprob.
     */
    private float[] target(float[] logits) {
        float[] t = params().isGreedy() ? logits : Sampler.distribution(logits, params());
        if (logprobs != null) {
            target = t;
        }
        return t;
    }

    /** The distribution logprobs are reported under: the row's own, at temperature 1 when greedy. */
    private float[] logprobDistribution(float[] kept) {
        return params().isGreedy() ? TokenLogprob.softmax(kept) : kept;
    }

    private float[] rules(float[] logits, int[] pending) {
        if (!rules.isEmpty()) {
            TokenHistory h = new TokenHistory(this, pending);
            for (LogitsRule r : rules) {
                r.apply(logits, h);
            }
        }
        return logits;
    }

    private static final int[] NONE = new int[0];

    /** Appends a committed token and applies the stopping rules; returns true when the sequence is done. */
    public boolean commit(int token, StopCriteria stop) {
        if (finish != null) {
            throw new IllegalStateException("sequence " + request.id() + " already finished");
        }
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
        if (length == 1) {
            firstTokenNanos = System.nanoTime();
        }
        if (logprobs != null && target != null) {
            logprobs.add(TokenLogprob.of(logprobDistribution(target), token, params().get(Settings.LOGPROBS)));
            target = null;
        }
        FinishReason r = stop.check(this, token);
        if (r == null && length >= budget) {
            r = FinishReason.LENGTH;
        }
        if (r != null) {
            finish(r);
        }
        return finish != null;
    }

    void setStopText(String text) {
        this.stopText = text;
    }

    /** What ended the text when it finished with {@link FinishReason#STOP}: the stop string or the stop token id. */
    public Object stopReason() {
        return stopReason;
    }

    void setStopReason(Object reason) {
        this.stopReason = reason;
    }

    /** Log-probabilities of the generated tokens ({@code logprobs > 0}), else null. */
    public List<TokenLogprob> logprobs() {
        return logprobs;
    }

    /** Log-probabilities of the prompt's tokens after the first ({@code prompt_logprobs > 0}), else null. */
    public List<TokenLogprob> promptLogprobs() {
        return promptLogprobs;
    }

    /** The prompt's logprobs, computed by the scheduler from the prefill's logits. */
    public void setPromptLogprobs(List<TokenLogprob> l) {
        this.promptLogprobs = List.copyOf(l);
    }

    /** Which of the request's {@code n} samples this is (0 for the first). */
    public int sampleIndex() {
        return sampleIndex;
    }

    /**
     * Makes this the {@code index}-th sample of a request whose first sample is {@code leader}: it waits until the
     * leader's prompt is prefilled, so that its own prefill finds the prompt in the prefix cache.
     */
    public void sampleOf(Sequence leader, int index) {
        this.leader = leader;
        this.sampleIndex = index;
    }

    /** Whether this sequence may start now: it has no leader, or its leader's prompt is prefilled. */
    public boolean mayStart() {
        return leader == null || leader.prefilled || leader.finished();
    }

    /** The scheduler prefilled this sequence's prompt (its siblings may start). */
    public void markPrefilled() {
        prefilled = true;
    }

    private void finish(FinishReason r) {
        finish = r;
        endNanos = System.nanoTime();
    }
}
