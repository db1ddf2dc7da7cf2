package dev.ppsd.udf;

import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.SpecMetrics;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cross-task batcher on a fake engine that echoes "gen(prompt)" and records the batches it was given. */
class CrossTaskBatcherTest {
    private final List<List<String>> batches = Collections.synchronizedList(new ArrayList<>());
    /** Counted down when the fake engine is entered; the first call then waits for {@link #release}. */
    private final CountDownLatch entered = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    private void gate() {
        entered.countDown();
        try {
            release.await();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private List<GenerationResult> echo(List<GenerationRequest> batch) {
        batches.add(batch.stream().map(GenerationRequest::id).toList());
        return batch.stream().map(r -> new GenerationResult(r.id(), "gen(" + r.prompt() + ")", new int[0], new int[0],
                FinishReason.LENGTH, 1, "ar", SpecMetrics.NONE, null)).toList();
    }

    private static List<GenerationRequest> rows(String task, int n) {
        List<GenerationRequest> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(new GenerationRequest(task + "-" + i, task + " prompt " + i, SamplingParams.greedy(1)));
        }
        return l;
    }

    private static List<String> ids(List<GenerationResult> results) {
        return results.stream().map(GenerationResult::id).toList();
    }

    private static void awaitQueued(CrossTaskBatcher b, int n) throws InterruptedException {
        for (int i = 0; i < 500 && b.queued() != n; i++) {
            Thread.sleep(10);
        }
        assertEquals(n, b.queued());
    }

    @Test
    void concurrentTasksEachGetTheirOwnRowsBackInOrder() throws Exception {
        try (CrossTaskBatcher b = new CrossTaskBatcher("t", 3, this::echo, e -> { })) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<List<GenerationResult>>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                List<GenerationRequest> mine = rows("task" + t, 5);
                futures.add(pool.submit(() -> b.submit(mine)));
            }
            for (int t = 0; t < 4; t++) {
                List<GenerationResult> got = futures.get(t).get(30, TimeUnit.SECONDS);
                assertEquals(5, got.size());
                for (int i = 0; i < 5; i++) {
                    assertEquals("task" + t + "-" + i, got.get(i).id());
                    assertEquals("gen(task" + t + " prompt " + i + ")", got.get(i).text());
                }
            }
            pool.shutdown();
            assertTrue(batches.stream().allMatch(x -> x.size() <= 3), batches.toString());
            assertEquals(20, b.rows());
        }
    }

    @Test
    void rowsOfDifferentTasksShareOneEngineCall() throws Exception {
        CrossTaskBatcher.Generate gated = batch -> {
            gate();
            return echo(batch);
        };
        try (CrossTaskBatcher b = new CrossTaskBatcher("t", 4, gated, e -> { })) {
            ExecutorService pool = Executors.newFixedThreadPool(3);
            Future<?> blocker = pool.submit(() -> b.submit(rows("first", 1)));
            assertTrue(entered.await(30, TimeUnit.SECONDS)); // the worker took "first" and waits in the engine call
            Future<List<GenerationResult>> a = pool.submit(() -> b.submit(rows("a", 2)));
            Future<List<GenerationResult>> c = pool.submit(() -> b.submit(rows("c", 2)));
            awaitQueued(b, 4);
            release.countDown();
            blocker.get(30, TimeUnit.SECONDS);
            assertEquals(List.of("a-0", "a-1"), ids(a.get(30, TimeUnit.SECONDS)));
            assertEquals(List.of("c-0", "c-1"), ids(c.get(30, TimeUnit.SECONDS)));
            pool.shutdown();
            assertEquals(2, batches.size(), batches.toString());
            List<String> shared = batches.get(1);
            assertEquals(4, shared.size());
            assertTrue(shared.containsAll(List.of("a-0", "a-1", "c-0", "c-1")), shared.toString());
        }
    }

    @Test
    void anEngineFailureFailsEveryWaitingRowAndStopsTheBatcher() throws Exception {
        AtomicInteger failures = new AtomicInteger();
        CrossTaskBatcher.Generate failing = batch -> {
            gate();
            throw new OutOfMemoryError("simulated native OOM");
        };
        try (CrossTaskBatcher b = new CrossTaskBatcher("t", 2, failing, e -> failures.incrementAndGet())) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            Future<?> running = pool.submit(() -> b.submit(rows("a", 2)));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            Future<?> queued = pool.submit(() -> b.submit(rows("b", 3)));
            awaitQueued(b, 3);
            release.countDown();
            for (Future<?> f : List.of(running, queued)) {
                Throwable e = assertThrows(Exception.class, () -> f.get(30, TimeUnit.SECONDS)).getCause();
                assertInstanceOf(PpsdEngineException.class, e);
                assertTrue(e.getMessage().contains("simulated native OOM"), e.getMessage());
                assertInstanceOf(OutOfMemoryError.class, e.getCause());
            }
            pool.shutdown();
            assertEquals(1, failures.get());
            PpsdEngineException later = assertThrows(PpsdEngineException.class, () -> b.submit(rows("c", 1)));
            assertTrue(later.getMessage().startsWith("the engine failed earlier"), later.getMessage());
        }
    }

    @Test
    void anInterruptedTaskWithdrawsItsQueuedRows() throws Exception {
        CrossTaskBatcher.Generate gated = batch -> {
            gate();
            return echo(batch);
        };
        try (CrossTaskBatcher b = new CrossTaskBatcher("t", 4, gated, e -> { })) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            Future<?> blocker = pool.submit(() -> b.submit(rows("first", 1)));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            Future<?> killed = pool.submit(() -> b.submit(rows("killed", 2)));
            awaitQueued(b, 2);
            killed.cancel(true);
            awaitQueued(b, 0);
            release.countDown();
            blocker.get(30, TimeUnit.SECONDS);
            assertEquals(List.of("x-0"), ids(b.submit(rows("x", 1))));
            pool.shutdown();
            assertEquals(List.of(List.of("first-0"), List.of("x-0")), batches);
        }
    }
}
