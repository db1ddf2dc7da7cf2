package dev.ppsd.udf;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

import java.util.List;

/**
 * One executor's engine for one set of {@link EngineOptions}, shared by all tasks of the JVM: the
 * {@link GenerationEngine} plus the {@link CrossTaskBatcher} that feeds it. Tasks hold a {@link Lease} while they
 * use it; an engine that failed is evicted from {@link EngineCache} and closed once its last lease is released.
 */
public final class SharedEngine {
    private final EngineOptions options;
    private final GenerationEngine engine;
    private final CrossTaskBatcher batcher;
    private final int contextLength;
    private volatile Throwable injectedFault;
    private int leases;
    private boolean evicted;
    private boolean closed;

    SharedEngine(EngineOptions options, GenerationEngine engine, int id) {
        this.options = options;
        this.engine = engine;
        this.contextLength = engine.model().config().maxPositionEmbeddings();
        this.batcher = new CrossTaskBatcher("ppsd-batcher-" + id, options.batchSize(), this::callEngine,
                e -> EngineCache.evict(this));
    }

    /** The options this engine was built with (its cache key). */
    public EngineOptions options() {
        return options;
    }

    /** The model's context length (max_position_embeddings). */
    public int contextLength() {
        return contextLength;
    }

    /** Token count of {@code prompt} as the engine would feed it (special tokens such as BOS included). */
    public int countTokens(String prompt) {
        return engine.tokenizer().encode(prompt).length;
    }

    /** Generates {@code requests} through the executor-wide batcher; blocks until all are done. */
    public List<GenerationResult> generate(List<GenerationRequest> requests) {
        try {
            return batcher.submit(requests);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the engine", e);
        }
    }

    /**
     * The engine's Arrow batch interface: reads requests from {@code requests} (see {@link ArrowBatches}),
     * generates them and returns the results as a new batch allocated from {@code allocator} (caller closes).
     */
    public VectorSchemaRoot generate(VectorSchemaRoot requests, BufferAllocator allocator) {
        return ArrowBatches.writeResults(generate(ArrowBatches.readRequests(requests)), allocator);
    }

    /** Engine calls this engine's batcher made so far (rows of several tasks can share one call). */
    public long batches() {
        return batcher.batches();
    }

    /** Makes the next engine call throw {@code fault} (tests of the drop-and-rebuild path). */
    void injectFault(Throwable fault) {
        injectedFault = fault;
    }

    private List<GenerationResult> callEngine(List<GenerationRequest> batch) {
        Throwable f = injectedFault;
        if (f != null) {
            injectedFault = null;
            if (f instanceof Error err) {
                throw err;
            }
            throw (RuntimeException) f;
        }
        return engine.generate(batch);
    }

    synchronized boolean tryAcquire() {
        if (evicted) {
            return false;
        }
        leases++;
        return true;
    }

    synchronized void release() {
        leases--;
        maybeClose();
    }

    synchronized void evict() {
        evicted = true;
        maybeClose();
    }

    /** Whether this engine was closed (evicted and no lease left). */
    public synchronized boolean isClosed() {
        return closed;
    }

    private void maybeClose() {
        if (evicted && leases == 0 && !closed) {
            closed = true;
            batcher.close();
            engine.close();
        }
    }

    /** A task's claim on a shared engine: the engine stays open until every lease is closed. */
    public static final class Lease implements AutoCloseable {
        private final SharedEngine engine;
        private boolean released;

        Lease(SharedEngine engine) {
            this.engine = engine;
        }

        /** The leased engine. */
        public SharedEngine engine() {
            return engine;
        }

        /** Releases the claim; idempotent. */
        @Override
        public synchronized void close() {
            if (!released) {
                released = true;
                engine.release();
            }
        }
    }
}
