package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LayerStack;
import dev.ppsd.engine.model.PrefixStore;
import dev.ppsd.engine.runtime.Bfloat16;

import java.util.List;
import java.util.function.UnaryOperator;

/**
 * What drafts in a pipeline, on the stage that runs it (its <em>host</em>): the exit head after stage 0's block
 * ({@link ExitHeadDrafter}, {@code ppsd}) or the SPD head beside the stages ({@link SpdHeadDrafter}, {@code spd}).
 * Both leave a draft's logits in {@link InFlight#draftLogits} of the entry that ran stage 0, and the scheduler
 * proposes, verifies, flushes and commits the same way for both.
 *
 * <p>This class holds what the two share: the drafter's own decoder layers, their KV cache (one slot per sequence,
 * truncated with the stages' caches on a flush) and their prefix store. The pipeline shows it each cycle at three
 * points, each a no-op unless a kind needs it: {@link #beforeStages} (the pipeline state before any stage runs:
 * what the SPD head drafts from), {@link #draft} (on the host's thread, beside its block) and {@link #afterBlock}
 * (stage 0's output: what the exit head drafts from); and it hands over every entry that leaves the pipeline
 * ({@link #left}) and every sequence that finishes ({@link #finished}).
 */
abstract class PipelineDrafter implements AutoCloseable {
    final Device device;
    final NDManager manager;
    private final LayerStack stack; // null: no layers of its own (the shared exit head)
    private final PrefixStore prefix; // null without prefix caching or own layers
    private KvCache cache;

    /**
     * @param manager     the host stage's manager (on {@code device})
     * @param stack       the drafter's own layers on {@code device}, or null
     * @param prefixBytes what its prefix store may take; negative: none
     * @param type        the type its KV cache holds (the model's)
     */
    PipelineDrafter(Device device, NDManager manager, LayerStack stack, long prefixBytes, DataType type) {
        this.device = device;
        this.manager = manager;
        this.stack = stack;
        this.prefix = stack != null && prefixBytes >= 0 ? new PrefixStore(manager, device, prefixBytes,
                KvBudget.bytesPerPosition(stack.config(), stack.size(), type) * PrefixStore.BLOCK) : null;
    }

    /** The mode that drafts with it: {@code ppsd} or {@code spd}. */
    abstract String mode();

    /** Model depths whose states every stage keeps on its entries for the drafter ({@link InFlight#states}). */
    int[] stateDepths() {
        return new int[0];
    }

    /** The pipeline's state before the cycle's stages run; {@code context}: the model's context length. */
    void beforeStages(Lane[] lanes, int context) {
    }

    /** Whether the host must run this cycle for the drafter even when none of its entries moves. */
    boolean drafts() {
        return false;
    }

    /** Runs on the host's thread, in the cycle's NDScope, before the host's block; returns the ms spent prefilling. */
    double draft() {
        return 0;
    }

    /**
     * Stage 0's output {@code h} of {@code group} (rows as in {@code a}: {@code [B, T, D]}, or one token a row),
     * on stage 0's thread (the host when it is 0); {@code lastOfEach} picks each entry's last position from it.
     */
    void afterBlock(List<InFlight> group, NDArray h, AttentionBatch a, UnaryOperator<NDArray> lastOfEach) {
    }

    /** After every stage of the cycle has finished, before the verifications. */
    void afterStages() {
    }

    /** An entry that has left the last stage (verified): the drafter keeps what it still needs of it. */
    void left(Lane lane, InFlight e) {
        e.discard();
    }

    /** {@code lane}'s sequence has finished (between cycles, before its entries are discarded and its slot freed). */
    void finished(Lane lane) {
    }

    /** Whether the drafter's cache holds {@code lane}'s prompt once every stage does (so siblings may reuse it). */
    boolean holdsPrompt(Lane lane) {
        return true;
    }

    LayerStack stack() {
        return stack;
    }

    /** The drafter's KV cache (null when it has no layers or before the first run). */
    KvCache cache() {
        return cache;
    }

    /** Whether its cache (if it has layers) already holds {@code length} positions per slot. */
    boolean cacheHolds(int length) {
        return stack == null || cache != null && cache.maxLen() >= length;
    }

    void ensureCache(int slots, int length, int cap) {
        if (stack == null) {
            return;
        }
        if (cache == null) {
            cache = stack.newCache(manager, slots, KvCache.firstLength(length, cap));
        }
        cache.ensureLength(length, cap);
    }

    /** Forgets positions {@code >= length} of {@code slot} (a flush rolls the drafter back with the stages). */
    void truncate(int slot, int length) {
        KvCache.truncate(slot, length, cache);
    }

    void reset(int slot) {
        if (cache != null) {
            cache.reset(slot);
        }
    }

    /** The longest prefix of {@code prompt} the drafter's prefix store holds (any, without a store). */
    int prefixMatch(int[] prompt) {
        return prefix == null ? Integer.MAX_VALUE : prefix.match(prompt);
    }

    void restorePrefix(int slot, int[] prompt, int length) {
        if (prefix != null) {
            prefix.restore(cache, slot, prompt, length);
        }
    }

    /** Stores the full blocks of {@code prompt} among the first {@code upTo} positions the cache holds for it. */
    void savePrefix(int slot, int[] prompt, int upTo) {
        if (prefix != null) {
            prefix.save(cache, slot, prompt, upTo);
        }
    }

    /** Frees the KV cache (the run ended); the next run allocates it again. */
    void releaseCache() {
        if (cache != null) {
            cache.close();
            cache = null;
        }
    }

    /** {@code a} on the host's device (a state handed over from another stage's device). */
    NDArray onHost(NDArray a) {
        return a.getDevice().equals(device) ? a : Bfloat16.toDevice(a, device); // (DJL cannot move bfloat16 itself)
    }

    @Override
    public void close() {
        releaseCache();
        if (prefix != null) {
            prefix.close();
        }
    }
}
