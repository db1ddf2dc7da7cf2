package dev.ppsd.udf;

import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Setting.Scope;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.udf.RowRequests.Prepared;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.TaskCompletionListener;

import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The task side of {@link PpsdGenerator}: reads its partition {@code batch_size} rows at a time, turns each row into
 * a request ({@link RowRequests}), queues the good ones on the executor's engine ({@link EngineHandle#submit}),
 * {@value #CHUNKS_AHEAD} chunks ahead of the one it reads back, and appends the result columns to every input row, in
 * input order. Nothing is opened for an empty partition.
 */
final class PartitionGenerator implements MapPartitionsFunction<Row, Row> {
    /**
     * Where the columns the generator reads sit in the input row; -1 when absent. {@code own[i]} is the column of
     * the i-th request setting ({@link Settings#of}{@code (REQUEST)}), whose values override the job's per row.
     */
    record Layout(int width, int prompt, int messages, int id, int[] own, OutputColumns output)
            implements Serializable {
    }

    private final JobSettings settings;
    private final Layout layout;
    private final PpsdMetrics metrics;

    PartitionGenerator(JobSettings settings, Layout layout, PpsdMetrics metrics) {
        this.settings = settings;
        this.layout = layout;
        this.metrics = metrics;
    }

    /** Chunks of {@code batch_size} rows queued on the engine ahead of the one being read back. */
    static final int CHUNKS_AHEAD = 2;

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        EngineHandle engine = settings.handle();
        int batch = settings.engine().get(Settings.BATCH_SIZE);
        int partition = TaskContext.get() == null ? 0 : TaskContext.get().partitionId();
        ArrayDeque<Chunk> queued = new ArrayDeque<>();
        if (TaskContext.get() != null) {
            // a failed or killed task lets go of the rows it still had queued
            TaskContext.get().addTaskCompletionListener((TaskCompletionListener) c -> queued.forEach(
                    q -> q.results().release()));
        }
        return new Iterator<>() {
            private Iterator<Row> ready = List.<Row>of().iterator();
            private long index;
            private boolean reported;

            @Override
            public boolean hasNext() {
                // keep the engine's queue full: the next chunks are queued while this one is generated
                while (queued.size() <= CHUNKS_AHEAD && input.hasNext()) {
                    List<Row> rows = new ArrayList<>(batch);
                    while (input.hasNext() && rows.size() < batch) {
                        rows.add(input.next());
                    }
                    queued.add(submit(rows, engine, index, partition));
                    index += rows.size();
                }
                if (!ready.hasNext() && !queued.isEmpty()) {
                    ready = collect(queued.poll()).iterator();
                }
                boolean more = ready.hasNext();
                if (!more && !reported) {
                    reported = true; // the partition is done: what auto has learned on this executor so far
                    metrics.learned(engine.speculationSummary(TaskContext.get()));
                }
                return more;
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return ready.next();
            }
        };
    }

    /** Rows handed to the engine: each row's prepared request (or why it cannot run) and the queued requests. */
    private record Chunk(List<Row> rows, Prepared[] prepared, EngineHandle.Submitted results) {
    }

    /** Turns rows {@code [first, first + rows.size())} of this partition into requests and queues the good ones. */
    private Chunk submit(List<Row> rows, EngineHandle engine, long first, int partition) {
        boolean failOnError = settings.job().get(JobOptions.FAIL_ON_ERROR);
        Prepared[] prepared = new Prepared[rows.size()];
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            Row row = rows.get(i);
            String id = layout.id() < 0 || row.isNullAt(layout.id()) ? null : String.valueOf(row.get(layout.id()));
            String label = id != null ? "row id=" + id : "row " + (first + i) + " of partition " + partition;
            Prepared p;
            try {
                String prompt = layout.prompt() < 0 ? null : row.getString(layout.prompt());
                List<ChatMessage> chat = layout.messages() < 0 || row.isNullAt(layout.messages()) ? null
                        : RowRequests.messages(row.getList(layout.messages()));
                p = RowRequests.prepare(settings, id, label, prompt, chat, own(row));
            } catch (IllegalArgumentException e) {
                p = Prepared.bad(label, e.getMessage());
            }
            if (!p.isOk() && failOnError) {
                throw new PpsdRowException(p.label() + ": " + p.error());
            }
            prepared[i] = p;
            if (p.isOk()) {
                requests.add(p.request());
            }
        }
        return new Chunk(rows, prepared, engine.submit(requests));
    }

    /** The output rows of a chunk, in input order: its results appended to each input row. */
    private List<Row> collect(Chunk c) {
        boolean failOnError = settings.job().get(JobOptions.FAIL_ON_ERROR);
        List<GenerationResult> results = c.results().get();
        List<Row> out = new ArrayList<>(c.rows().size());
        int next = 0;
        for (int i = 0; i < c.rows().size(); i++) {
            Prepared p = c.prepared()[i];
            // a row with n samples has n results (one when it failed): one output row each
            int n = p.isOk() ? p.request().params().get(Settings.N) : 1;
            for (int j = 0; j < n; j++) {
                RowResult r = p.isOk() ? RowResult.of(results.get(next++)) : RowResult.failed(p.error());
                if (!r.ok() && failOnError) {
                    throw new PpsdRowException(p.label() + ": " + r.error());
                }
                metrics.add(r);
                out.add(append(c.rows().get(i), r));
                if (!r.ok()) {
                    break; // a request that failed has one result, whatever its n
                }
            }
        }
        return out;
    }

    /** The row's own values of request settings (non-null cells of their columns). */
    private Map<Setting<?>, Object> own(Row row) {
        Map<Setting<?>, Object> m = new LinkedHashMap<>();
        List<Setting<?>> request = Settings.of(Scope.REQUEST);
        for (int i = 0; i < request.size(); i++) {
            int c = layout.own()[i];
            if (c >= 0 && !row.isNullAt(c)) {
                Object v = row.get(c);
                m.put(request.get(i), v instanceof scala.collection.Seq<?> seq
                        ? scala.jdk.javaapi.CollectionConverters.asJava(seq) : v);
            }
        }
        return m;
    }

    private Row append(Row in, RowResult r) {
        Object[] result = r.values(layout.output());
        Object[] values = new Object[layout.width() + result.length];
        for (int i = 0; i < layout.width(); i++) {
            values[i] = in.get(i);
        }
        System.arraycopy(result, 0, values, layout.width(), result.length);
        return RowFactory.create(values);
    }
}
