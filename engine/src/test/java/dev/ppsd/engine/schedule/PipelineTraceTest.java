package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The trace is recorded on the engine's worker thread and read on others: reading never sees it change. */
class PipelineTraceTest {
    @Test
    void aReaderIteratesWhileTheWorkerRecords() throws InterruptedException {
        int cycles = 200_000;
        PipelineTrace trace = new PipelineTrace(cycles);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            for (int i = 0; i < cycles; i++) {
                trace.add(new PipelineTrace.Cycle(i, i + 1, new double[1], new double[1], new int[][] {{i % 8}},
                        new int[1], 1, 0, 0, 0));
            }
        });
        worker.setUncaughtExceptionHandler((t, e) -> failure.set(e));
        worker.start();
        int reads = 0;
        while (worker.isAlive()) {
            List<PipelineTrace.Cycle> seen = trace.cycles();
            double last = -1;
            for (PipelineTrace.Cycle c : seen) {
                assertTrue(c.startMs() > last, "cycles in the order recorded");
                last = c.startMs();
            }
            reads++;
        }
        worker.join();
        assertNull(failure.get(), "the worker failed");
        assertEquals(cycles, trace.cycles().size());
        System.out.printf("[PipelineTraceTest] %d reads while %d cycles were recorded%n", reads, cycles);
    }
}
