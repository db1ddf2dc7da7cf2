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

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The task side of {@link PpsdGenerator}: reads its partition {@code batch_size} rows at a time, turns each row into
 * a request ({@link RowRequests}), hands the good ones to the executor's engine ({@link EngineHandle#generate}) and
 * appends the result columns to every input row, in input order. Nothing is opened for an empty partition.
 */
final class PartitionGenerator implements MapPartitionsFunction<Row, Row> {
    /**
     * Where the columns the generator reads sit in the input row; -1 when absent. {@code own[i]} is the column of
     * the i-th request setting ({@link Settings#of}{@code (REQUEST)}), whose values override the job's per row.
     */
    record Layout(int width, int prompt, int messages, int id, int[] own) implements Serializable {
    }

    private final JobSettings settings;
    private final Layout layout;
    private final PpsdMetrics metrics;

    PartitionGenerator(JobSettings settings, Layout layout, PpsdMetrics metrics) {
        this.settings = settings;
        this.layout = layout;
        this.metrics = metrics;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        EngineHandle engine = settings.handle();
        int batch = settings.engine().get(Settings.BATCH_SIZE);
        return new Iterator<>() {
            private Iterator<Row> ready = List.<Row>of().iterator();
            private long index;

            @Override
            public boolean hasNext() {
                if (!ready.hasNext() && input.hasNext()) {
                    List<Row> chunk = new ArrayList<>(batch);
                    while (input.hasNext() && chunk.size() < batch) {
                        chunk.add(input.next());
                    }
                    ready = generate(chunk, engine, index).iterator();
                    index += chunk.size();
                }
                return ready.hasNext();
            }

            @Override
            public Row next() {
                hasNext();
                return ready.next();
            }
        };
    }

    /** Generates one chunk of rows: rows {@code [first, first + chunk.size())} of this partition. */
    private List<Row> generate(List<Row> chunk, EngineHandle engine, long first) {
        int partition = TaskContext.get() == null ? 0 : TaskContext.get().partitionId();
        boolean failOnError = settings.job().get(JobOptions.FAIL_ON_ERROR);
        Prepared[] prepared = new Prepared[chunk.size()];
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < chunk.size(); i++) {
            Row row = chunk.get(i);
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
        List<GenerationResult> results = engine.generate(requests);
        List<Row> out = new ArrayList<>(chunk.size());
        int next = 0;
        for (int i = 0; i < chunk.size(); i++) {
            RowResult r = prepared[i].isOk() ? RowResult.of(results.get(next++))
                    : RowResult.failed(null, prepared[i].error());
            if (!r.ok() && failOnError) {
                throw new PpsdRowException(prepared[i].label() + ": " + r.error());
            }
            metrics.add(r);
            out.add(append(chunk.get(i), r));
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
        Object[] result = r.values();
        Object[] values = new Object[layout.width() + result.length];
        for (int i = 0; i < layout.width(); i++) {
            values[i] = in.get(i);
        }
        System.arraycopy(result, 0, values, layout.width(), result.length);
        return RowFactory.create(values);
    }
}
