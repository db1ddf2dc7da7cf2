package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Batches the rows of all tasks of an executor into shared engine calls. Tasks {@link #submit} their rows and
 * block; one worker thread per engine takes up to {@code batchSize} rows from the queue, in arrival order and
 * whichever task they came from, calls the engine once, and hands every result back to the task that asked for
 * it (a submission larger than a batch, or split between two batches, is completed when its last row is).
 *
 * <p>An exception from the engine call is not a per-row error (those come back inside results): it fails every
 * row of that batch and every queued row, the batcher stops for good and {@code onFailure} is told, so the
 * engine can be dropped and rebuilt by the next task. A task interrupted while waiting (Spark killing it)
 * withdraws its rows that are still queued.
 */
final class CrossTaskBatcher implements AutoCloseable {
    /** One engine call: results in request order, one per request. */
    interface Generate {
        List<GenerationResult> apply(List<GenerationRequest> batch);
    }

    private final int batchSize;
    private final Generate generate;
    private final Consumer<Throwable> onFailure;
    private final Object lock = new Object();
    private final ArrayDeque<Item> queue = new ArrayDeque<>();
    private final Thread worker;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong rows = new AtomicLong();
    private boolean closed;
    private Throwable failure;

    CrossTaskBatcher(String name, int batchSize, Generate generate, Consumer<Throwable> onFailure) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1 but was " + batchSize);
        }
        this.batchSize = batchSize;
        this.generate = generate;
        this.onFailure = onFailure;
        this.worker = new Thread(this::run, name);
        worker.setDaemon(true);
        worker.start();
    }

    /**
     * Queues {@code requests}, waits until all are generated and returns their results in order. Throws
     * {@link PpsdEngineException} when the engine failed (now or before).
     */
    List<GenerationResult> submit(List<GenerationRequest> requests) throws InterruptedException {
        if (requests.isEmpty()) {
            return List.of();
        }
        Ticket t = new Ticket(requests.size());
        synchronized (lock) {
            if (failure != null) {
                throw new PpsdEngineException("the engine failed earlier: " + failure, failure);
            }
            if (closed) {
                throw new IllegalStateException("the engine was closed");
            }
            for (int i = 0; i < requests.size(); i++) {
                queue.add(new Item(requests.get(i), t, i));
            }
            lock.notifyAll();
        }
        try {
            return t.await();
        } catch (InterruptedException e) {
            t.cancelled = true;
            synchronized (lock) {
                queue.removeIf(it -> it.ticket == t);
            }
            throw e;
        }
    }

    /** Engine calls made so far. */
    long batches() {
        return batches.get();
    }

    /** Rows waiting in the queue. */
    int queued() {
        synchronized (lock) {
            return queue.size();
        }
    }

    /** Rows generated so far. */
    long rows() {
        return rows.get();
    }

    /** Stops the worker once the queued rows are done; does not wait for it. */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
    }

    private void run() {
        while (true) {
            List<Item> batch = new ArrayList<>(batchSize);
            synchronized (lock) {
                while (queue.isEmpty() && !closed) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        closed = true;
                    }
                }
                if (queue.isEmpty()) {
                    return;
                }
                while (!queue.isEmpty() && batch.size() < batchSize) {
                    Item it = queue.poll();
                    if (!it.ticket.cancelled) {
                        batch.add(it);
                    }
                }
            }
            if (batch.isEmpty()) {
                continue;
            }
            List<GenerationRequest> requests = new ArrayList<>(batch.size());
            for (Item it : batch) {
                requests.add(it.request);
            }
            List<GenerationResult> results;
            try {
                results = generate.apply(requests);
                if (results.size() != requests.size()) {
                    throw new IllegalStateException("engine returned " + results.size() + " results for "
                            + requests.size() + " requests");
                }
            } catch (Throwable e) {
                fail(batch, e);
                return;
            }
            batches.incrementAndGet();
            rows.addAndGet(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).ticket.complete(batch.get(i).index, results.get(i));
            }
        }
    }

    private void fail(List<Item> batch, Throwable e) {
        List<Item> queued;
        synchronized (lock) {
            failure = e;
            queued = new ArrayList<>(queue);
            queue.clear();
        }
        // evict first, then wake the waiting tasks: a task that sees the error (and Spark's retry of it) must
        // already find the failed engine gone from the cache
        try {
            onFailure.accept(e);
        } catch (RuntimeException ignored) {
            // the tasks still get the engine's error below; a failing cleanup must not hide it
        }
        PpsdEngineException ex = new PpsdEngineException("the engine failed generating a batch of " + batch.size()
                + " rows: " + e, e);
        batch.forEach(it -> it.ticket.fail(ex));
        queued.forEach(it -> it.ticket.fail(ex));
    }

    private record Item(GenerationRequest request, Ticket ticket, int index) {
    }

    /** The rows of one submission: filled in by the worker, waited on by the task. */
    private static final class Ticket {
        private final GenerationResult[] results;
        private int remaining;
        private PpsdEngineException failure;
        volatile boolean cancelled;

        Ticket(int n) {
            results = new GenerationResult[n];
            remaining = n;
        }

        synchronized void complete(int index, GenerationResult r) {
            results[index] = r;
            if (--remaining == 0) {
                notifyAll();
            }
        }

        synchronized void fail(PpsdEngineException e) {
            if (failure == null) {
                failure = e;
            }
            notifyAll();
        }

        synchronized List<GenerationResult> await() throws InterruptedException {
            while (remaining > 0 && failure == null) {
                wait();
            }
            if (failure != null) {
                throw new PpsdEngineException(failure.getMessage(), failure.getCause());
            }
            return List.of(results);
        }
    }
}
