package dev.ppsd.udf;

import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.udf.RowRequests.Overrides;
import dev.ppsd.udf.RowRequests.Prepared;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.TaskCompletionListener;

import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * The task side of {@link PpsdGenerator}: reads its partition {@code batchSize} rows at a time, checks each row,
 * packs the good ones into an Arrow request batch for the executor's shared engine and appends the result
 * columns to every input row, in input order. The engine is leased on the first row (an empty partition builds
 * nothing) and released when the task ends.
 */
final class PartitionGenerator implements MapPartitionsFunction<Row, Row> {
    /** Where the columns the generator reads sit in the input row; -1 when absent. */
    record Layout(int width, int prompt, int id, int maxNewTokens, int temperature, int topK, int topP, int seed,
            int stop) implements Serializable {
    }

    private final PpsdSettings settings;
    private final Layout layout;
    private final PpsdMetrics metrics;

    PartitionGenerator(PpsdSettings settings, Layout layout, PpsdMetrics metrics) {
        this.settings = settings;
        this.layout = layout;
        this.metrics = metrics;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        return new Iterator<>() {
            private final ArrayDeque<Row> ready = new ArrayDeque<>();
            private SharedEngine.Lease lease;
            private long index;

            @Override
            public boolean hasNext() {
                if (ready.isEmpty() && input.hasNext()) {
                    List<Row> chunk = new ArrayList<>(settings.engine().batchSize());
                    while (input.hasNext() && chunk.size() < settings.engine().batchSize()) {
                        chunk.add(input.next());
                    }
                    ready.addAll(generate(chunk, engine(), index));
                    index += chunk.size();
                }
                if (ready.isEmpty() && lease != null && TaskContext.get() == null) {
                    lease.close();
                }
                return !ready.isEmpty();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return ready.poll();
            }

            private SharedEngine engine() {
                if (lease == null) {
                    TaskContext ctx = TaskContext.get();
                    lease = settings.engine().lease(ctx);
                    if (ctx != null) {
                        SharedEngine.Lease l = lease;
                        ctx.addTaskCompletionListener((TaskCompletionListener) c -> l.close());
                    }
                }
                return lease.engine();
            }
        };
    }

    /** Generates one chunk of rows; rows {@code [first, first + chunk.size())} of this partition. */
    private List<Row> generate(List<Row> chunk, SharedEngine engine, long first) {
        int partition = TaskContext.get() == null ? 0 : TaskContext.get().partitionId();
        Prepared[] prepared = new Prepared[chunk.size()];
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < chunk.size(); i++) {
            Row row = chunk.get(i);
            String id = layout.id() < 0 || row.isNullAt(layout.id()) ? null : String.valueOf(row.get(layout.id()));
            String label = id != null ? "row id=" + id : "row " + (first + i) + " of partition " + partition;
            Prepared p;
            try {
                p = RowRequests.prepare(settings, id, label, row.getString(layout.prompt()), overrides(row));
            } catch (IllegalArgumentException e) {
                p = Prepared.bad(label, e.getMessage());
            }
            p = RowRequests.fit(p, engine, settings.promptTooLong());
            if (!p.isOk() && settings.failOnError()) {
                throw new PpsdRowException(p.label() + ": " + p.error());
            }
            prepared[i] = p;
            if (p.isOk()) {
                requests.add(p.request());
            }
        }
        List<RowResult> results = requests.isEmpty() ? List.of() : generateArrow(requests, engine, partition);
        List<Row> out = new ArrayList<>(chunk.size());
        int next = 0;
        for (int i = 0; i < chunk.size(); i++) {
            RowResult r = prepared[i].isOk() ? results.get(next++) : RowResult.failed(null, prepared[i].error());
            if (!r.ok() && settings.failOnError()) {
                throw new PpsdRowException(prepared[i].label() + ": " + r.error());
            }
            metrics.add(r);
            out.add(append(chunk.get(i), r));
        }
        return out;
    }

    /** Requests to Arrow, through the shared engine, results from Arrow; every buffer freed on the way out. */
    private static List<RowResult> generateArrow(List<GenerationRequest> requests, SharedEngine engine, int partition) {
        try (BufferAllocator allocator = ArrowBatches.allocator("ppsd-partition-" + partition);
                VectorSchemaRoot in = ArrowBatches.writeRequests(requests, allocator);
                VectorSchemaRoot out = engine.generate(in, allocator)) {
            return ArrowBatches.readResults(out);
        }
    }

    private Overrides overrides(Row row) {
        List<String> stop = null;
        if (present(row, layout.stop())) {
            Object v = row.get(layout.stop());
            stop = v instanceof String s ? List.of(s) : new ArrayList<>(row.<String>getList(layout.stop()));
        }
        return new Overrides(longAt(row, layout.maxNewTokens()), doubleAt(row, layout.temperature()),
                longAt(row, layout.topK()), doubleAt(row, layout.topP()), longAt(row, layout.seed()), stop);
    }

    private static boolean present(Row row, int i) {
        return i >= 0 && !row.isNullAt(i);
    }

    private static Long longAt(Row row, int i) {
        return present(row, i) ? ((Number) row.get(i)).longValue() : null;
    }

    private static Double doubleAt(Row row, int i) {
        return present(row, i) ? ((Number) row.get(i)).doubleValue() : null;
    }

    private Row append(Row in, RowResult r) {
        Object[] values = new Object[layout.width() + 7];
        for (int i = 0; i < layout.width(); i++) {
            values[i] = in.get(i);
        }
        System.arraycopy(r.values(), 0, values, layout.width(), 7);
        return RowFactory.create(values);
    }
}
