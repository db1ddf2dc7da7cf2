package dev.ppsd.engine.schedule;

import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;

import java.lang.management.ManagementFactory;

/**
 * What an engine's KV caches may take ({@code kv_cache_mb}; 0 = a quarter of the machine's memory, at most 16 GiB):
 * 80% for the batch's caches — every slot as long as the longest sequence in flight, which bounds how long one
 * sequence may be — and 20% for the prefix cache.
 *
 * @param bytes       the whole budget
 * @param maxSequence the most positions one sequence may take (prompt + budget + drafts in flight)
 */
public record KvBudget(long bytes, int maxSequence) {
    /** Share of the budget the batch's caches take; the prefix cache takes the rest. */
    static final double BATCH_SHARE = 0.8;

    /**
     * The budget of {@code options} for caches of {@code bytesPerPosition} per slot and position, {@code slots} slots,
     * and sequences of at most {@code longest} positions (context + drafts in flight).
     */
    public static KvBudget of(EngineOptions options, long bytesPerPosition, int slots, int longest) {
        long mb = options.get(Settings.KV_CACHE_MB);
        long bytes = mb > 0 ? mb << 20 : defaultBytes();
        long perSequence = (long) (bytes * BATCH_SHARE) / ((long) slots * bytesPerPosition);
        return new KvBudget(bytes, (int) Math.min(longest, perSequence));
    }

    /** A quarter of the machine's physical memory, at most 16 GiB. */
    static long defaultBytes() {
        long physical = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getTotalMemorySize();
        return Math.min(physical / 4, 16L << 30);
    }

    /** Bytes of K and V per position of one sequence in {@code layers} layers held in {@code type}. */
    public static long bytesPerPosition(LlamaConfig c, int layers, ai.djl.ndarray.types.DataType type) {
        return (long) layers * 2 * c.numKeyValueHeads() * c.headDim() * type.getNumOfBytes();
    }

    /** What the prefix cache may take. */
    public long prefixBytes() {
        return (long) (bytes * (1 - BATCH_SHARE));
    }

    /** The message of a sequence of {@code need} positions that cannot fit, or null when it fits. */
    String refusal(int need, int slots) {
        if (need <= maxSequence) {
            return null;
        }
        return "needs " + need + " positions of KV cache (prompt + max_new_tokens) but " + Settings.KV_CACHE_MB.name()
                + "=" + (bytes >> 20) + " holds at most " + maxSequence + " per sequence at " + Settings.BATCH_SIZE.name()
                + "=" + slots + "; raise " + Settings.KV_CACHE_MB.name() + " or lower " + Settings.BATCH_SIZE.name()
                + " or " + Settings.MAX_NEW_TOKENS.name();
    }
}
