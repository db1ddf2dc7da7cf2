package dev.ppsd.udf;

import java.nio.charset.StandardCharsets;

/**
 * The sampling seed of one row, derived from the job seed and the row's key (its id, or its prompt when the
 * table has no id), so a re-run or a retried task writes the same text for the same row whatever the
 * partitioning: {@code seed(row) = jobSeed ^ fnv1a64(utf8(key))}. A per-row {@code seed} column bypasses this.
 */
public final class RowSeeds {
    private static final long FNV_OFFSET = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;

    private RowSeeds() {
    }

    /** The seed of the row whose key is {@code key} in a job seeded with {@code jobSeed}. */
    public static long forRow(long jobSeed, String key) {
        return jobSeed ^ fnv1a64(key);
    }

    /** 64-bit FNV-1a of the UTF-8 bytes of {@code s}. */
    public static long fnv1a64(String s) {
        long h = FNV_OFFSET;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= FNV_PRIME;
        }
        return h;
    }
}
