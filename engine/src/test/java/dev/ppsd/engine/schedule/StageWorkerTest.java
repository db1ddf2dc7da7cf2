package dev.ppsd.engine.schedule;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StageWorkerTest {
    @Test
    void everyTaskRunsExactlyOnceAndAwaitSeesItsEffects() {
        for (int threads : new int[] {1, 64}) { // spinning on, and off (more threads than cores)
            try (StageWorker w = new StageWorker("test-stage", threads)) {
                long[] plain = new long[1]; // not volatile: await() must publish the worker's writes
                for (int i = 0; i < 20_000; i++) {
                    w.start(() -> plain[0]++);
                    w.await();
                    assertEquals(i + 1, plain[0]);
                }
            }
        }
    }

    @Test
    void slowTasksAreAwaitedPastTheSpin() {
        try (StageWorker w = new StageWorker("test-stage", 1)) {
            AtomicLong done = new AtomicLong();
            for (int i = 0; i < 5; i++) {
                w.start(() -> {
                    sleep(3); // longer than the spin: the waiter parks and must be woken
                    done.incrementAndGet();
                });
                w.await();
            }
            assertEquals(5, done.get());
        }
    }

    @Test
    void aFailingTaskIsRethrownByAwaitAndTheWorkerGoesOn() {
        try (StageWorker w = new StageWorker("test-stage", 1)) {
            w.start(() -> {
                throw new IllegalArgumentException("layer 3 broke");
            });
            IllegalStateException e = assertThrows(IllegalStateException.class, w::await);
            assertTrue(e.getMessage().contains("pipeline stage failed") && e.getMessage().contains("layer 3 broke"),
                    e.getMessage());
            int[] ran = new int[1];
            w.start(() -> ran[0] = 1);
            w.await();
            assertEquals(1, ran[0]);
        }
    }

    @Test
    void aClosedWorkerRefusesWork() {
        StageWorker w = new StageWorker("test-stage", 1);
        w.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.start(() -> { }));
        assertEquals("test-stage is closed", e.getMessage());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
