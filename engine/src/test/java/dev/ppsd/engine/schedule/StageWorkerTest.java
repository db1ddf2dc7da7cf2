package dev.ppsd.engine.schedule;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The stage worker's hand-off: every task runs once and its effects are visible after {@link StageWorker#await};
 * failures are rethrown; one task at a time, so a stage whose await was interrupted refuses new work (loudly) until
 * its task has ended. The workers here configure nothing (DJL's per-thread settings need a loaded engine; a test of
 * its own).
 */
class StageWorkerTest {
    private static final Runnable NO_CONFIGURATION = () -> { };

    private static StageWorker worker(int threads) {
        return new StageWorker("test-stage", threads, NO_CONFIGURATION);
    }

    @Test
    void everyTaskRunsExactlyOnceAndAwaitSeesItsEffects() {
        for (int threads : new int[] {1, 64}) { // spinning on, and off (more threads than cores)
            try (StageWorker w = worker(threads)) {
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
        try (StageWorker w = worker(1)) {
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
        try (StageWorker w = worker(1)) {
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
        StageWorker w = worker(1);
        w.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.start(() -> { }));
        assertEquals("test-stage is closed", e.getMessage());
    }

    @Test
    void startWhileThePreviousTaskStillRunsFailsLoudly() throws InterruptedException {
        try (StageWorker w = worker(1)) {
            CountDownLatch release = new CountDownLatch(1);
            int[] ran = new int[2];
            w.start(() -> {
                awaitUninterruptibly(release);
                ran[0]++;
            });
            // without awaiting the first task: the second one would run on the same caches, and its await could
            // return when the first one ended
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.start(() -> ran[1]++));
            assertEquals("test-stage is still running task 1 (its await was interrupted or skipped); a new task would"
                    + " race with it", e.getMessage());
            assertThrows(IllegalStateException.class, w::checkIdle);
            release.countDown();
            w.await();
            assertEquals(1, ran[0]);
            assertEquals(0, ran[1], "the refused task never runs");
            w.checkIdle();
            w.start(() -> ran[1]++);
            w.await();
            assertEquals(1, ran[1]);
        }
    }

    @Test
    void afterAnInterruptedAwaitTheStageRefusesWorkUntilItsTaskEndsThenRunsTheNextOneWhole() throws Exception {
        try (StageWorker w = worker(1)) {
            CountDownLatch release = new CountDownLatch(1);
            AtomicLong first = new AtomicLong();
            w.start(() -> {
                awaitUninterruptibly(release);
                sleep(20);
                first.set(1);
            });
            Thread.currentThread().interrupt(); // a Spark task kill while the coordinator waits for the stage
            IllegalStateException interrupted = assertThrows(IllegalStateException.class, w::await);
            assertTrue(Thread.interrupted(), "await keeps the interrupt flag");
            assertEquals("interrupted while waiting for test-stage", interrupted.getMessage());
            // the engine is reused by the next task: the stage is still busy with the interrupted cycle's task
            IllegalStateException busy = assertThrows(IllegalStateException.class, () -> w.start(() -> { }));
            assertTrue(busy.getMessage().contains("still running task 1"), busy.getMessage());
            release.countDown();
            w.await(); // waiting again is allowed: it ends when the stray task ends
            assertEquals(1, first.get());
            // the next task's await returns after that task, not after the stray one
            long[] second = new long[1];
            w.start(() -> {
                sleep(20);
                second[0] = 2;
            });
            w.await();
            assertEquals(2, second[0]);
        }
    }

    @Test
    void awaitWithoutAStartedTaskIsRefused() {
        try (StageWorker w = worker(1)) {
            assertEquals("test-stage: await without a started task",
                    assertThrows(IllegalStateException.class, w::await).getMessage());
            w.start(() -> { });
            w.await();
            assertThrows(IllegalStateException.class, w::await, "a task is awaited once");
        }
    }

    @Test
    void aThreadThatCannotBeConfiguredFailsItsTasksInsteadOfHanging() {
        // DJL's per-thread settings throw UnsatisfiedLinkError when no engine is loaded yet: the worker thread used to
        // die of it before its first task, and await then waited forever
        Runnable broken = () -> {
            throw new UnsatisfiedLinkError("torchSetNumThreads");
        };
        try (StageWorker w = new StageWorker("test-stage", 1, broken)) {
            for (int i = 0; i < 2; i++) {
                w.start(() -> { });
                IllegalStateException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                        () -> assertThrows(IllegalStateException.class, w::await));
                assertTrue(e.getMessage().contains("UnsatisfiedLinkError: torchSetNumThreads"), e.getMessage());
            }
        }
    }

    @Test
    void theDjlPinningWorksOnAStageThreadOnceTheEngineIsLoaded() {
        ai.djl.engine.Engine.getInstance(); // as the scheduler's model load does
        try (StageWorker w = new StageWorker("test-stage", 1)) {
            int[] ran = new int[1];
            w.start(() -> ran[0]++);
            w.await();
            assertEquals(1, ran[0]);
        }
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                if (latch.await(30, TimeUnit.SECONDS)) {
                    break;
                }
                throw new AssertionError("latch never released");
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
