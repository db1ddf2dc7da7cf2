package dev.ppsd.job;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;

import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * Test-only faults, off unless their conf is set (on the command line or in the Spark conf), so the resume tests
 * can stop a run at a known point:
 * <ul>
 *   <li>{@value #FAIL_FROM_PARTITION}{@code =N}: tasks of input partitions {@code >= N} fail after generating
 *       their first row, so part sets made of partitions {@code < N} commit and the others do not;</li>
 *   <li>{@value #ROW_DELAY_MS}{@code =MS}: every generated row waits MS ms before it is written, so a test can
 *       kill the driver while a part set is in flight.</li>
 * </ul>
 */
final class TestHooks implements MapPartitionsFunction<Row, Row> {
    static final String FAIL_FROM_PARTITION = JobArgs.JOB_PREFIX + "test.failFromPartition";
    static final String ROW_DELAY_MS = JobArgs.JOB_PREFIX + "test.rowDelayMs";

    private final int failFrom;
    private final long delayMs;
    /** Input partition index of each partition of the part set. */
    private final int[] inputPartitions;

    private TestHooks(int failFrom, long delayMs, int[] inputPartitions) {
        this.failFrom = failFrom;
        this.delayMs = delayMs;
        this.inputPartitions = inputPartitions;
    }

    /** The hooks {@code conf} asks for, or null when none is set. */
    static TestHooks of(Map<String, String> conf, int[] inputPartitions) {
        String f = conf.get(FAIL_FROM_PARTITION);
        String d = conf.get(ROW_DELAY_MS);
        if (f == null && d == null) {
            return null;
        }
        return new TestHooks(f == null ? Integer.MAX_VALUE : Integer.parseInt(f.trim()),
                d == null ? 0 : Long.parseLong(d.trim()), inputPartitions.clone());
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        TaskContext ctx = TaskContext.get();
        int partition = inputPartitions[ctx == null ? 0 : ctx.partitionId()];
        return new Iterator<>() {
            private int n;

            @Override
            public boolean hasNext() {
                if (n >= 1 && partition >= failFrom) {
                    throw new IllegalStateException("test hook: input partition " + partition + " fails ("
                            + FAIL_FROM_PARTITION + "=" + failFrom + ")");
                }
                return rows.hasNext();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                if (delayMs > 0) {
                    try {
                        Thread.sleep(delayMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted", e);
                    }
                }
                n++;
                return rows.next();
            }
        };
    }
}
