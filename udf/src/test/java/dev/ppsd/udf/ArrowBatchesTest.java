package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.SpecMetrics;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArrowBatchesTest {
    @Test
    void requestsRoundTripThroughAnArrowBatch() {
        List<GenerationRequest> requests = List.of(
                new GenerationRequest("1", "In the beginning", SamplingParams.greedy(8)),
                new GenerationRequest("2", "héllo wörld ✓ 𝄞", SamplingParams.greedy(4).withValue(Settings.TEMPERATURE, 0.7f).withValue(Settings.TOP_K, 20).withValue(Settings.TOP_P, 0.9f).withValue(Settings.SEED, -5L).withValue(Settings.STOP, List.of("\n", "The end"))),
                new GenerationRequest("3", "x", SamplingParams.greedy(0).withValue(Settings.SEED, Long.MAX_VALUE)));
        try (BufferAllocator a = ArrowBatches.allocator("test");
                VectorSchemaRoot batch = ArrowBatches.writeRequests(requests, a)) {
            assertEquals(ArrowBatches.REQUESTS, batch.getSchema());
            assertEquals(3, batch.getRowCount());
            assertEquals(requests, ArrowBatches.readRequests(batch));
        }
    }

    @Test
    void resultsRoundTripThroughAnArrowBatch() {
        GenerationResult plain = new GenerationResult("1", " God created", new int[] {5, 9, 1}, new int[] {0, 7, 8},
                FinishReason.EOS, 20.0, "ar", SpecMetrics.NONE, null);
        GenerationResult drafted = new GenerationResult("2", "ok", new int[] {4, 4}, new int[] {0, 3},
                FinishReason.LENGTH, 10.0, "ppsd", new SpecMetrics(8, 6, 4, 1, new double[0], new double[0]), null);
        GenerationResult failed = GenerationResult.failed("3", "ar", "prompt of request 3 encodes to no tokens");
        try (BufferAllocator a = ArrowBatches.allocator("test");
                VectorSchemaRoot batch = ArrowBatches.writeResults(List.of(plain, drafted, failed), a)) {
            assertEquals(ArrowBatches.RESULTS, batch.getSchema());
            List<RowResult> rows = ArrowBatches.readResults(batch);
            assertEquals(List.of(RowResult.of(plain), RowResult.of(drafted), RowResult.of(failed)), rows);

            RowResult p = rows.get(0);
            assertArrayEquals(new Object[] {" God created", "eos", 3, 3, null, 150.0, null}, p.values());
            assertArrayEquals(new int[] {5, 9, 1}, p.tokenIds());
            RowResult d = rows.get(1);
            assertEquals(0.75, d.acceptance());
            assertEquals(8, d.draftsProposed());
            assertEquals(6, d.draftsAccepted());
            RowResult f = rows.get(2);
            assertArrayEquals(new Object[] {null, null, null, null, null, null,
                    "prompt of request 3 encodes to no tokens"}, f.values());
        }
    }

    @Test
    void anEmptyBatchRoundTrips() {
        try (BufferAllocator a = ArrowBatches.allocator("test");
                VectorSchemaRoot req = ArrowBatches.writeRequests(List.of(), a);
                VectorSchemaRoot res = ArrowBatches.writeResults(List.of(), a)) {
            assertEquals(List.of(), ArrowBatches.readRequests(req));
            assertEquals(List.of(), ArrowBatches.readResults(res));
        }
    }

    @Test
    void everyBufferIsReturnedWhenTheBatchesAreClosed() {
        try (BufferAllocator a = ArrowBatches.allocator("test")) {
            VectorSchemaRoot batch = ArrowBatches.writeRequests(List.of(
                    new GenerationRequest("1", "x", SamplingParams.greedy(1))), a);
            assertTrue(a.getAllocatedMemory() > 0);
            batch.close();
            assertEquals(0, a.getAllocatedMemory());
        }
    }
}
