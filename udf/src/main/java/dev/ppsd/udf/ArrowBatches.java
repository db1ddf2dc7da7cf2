package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The engine's batch format on the Spark side: the rows of a partition travel to the executor's engine as Arrow
 * record batches of {@link #REQUESTS} ({@code batchSize} rows each) and come back as batches of
 * {@link #RESULTS}. Strings are UTF-8 {@code VarChar}; stop strings and generated token ids are Arrow lists.
 *
 * <pre>
 * requests: id utf8, prompt utf8, max_new_tokens int32, temperature float32, top_k int32, top_p float32,
 *           seed int64, stop list&lt;utf8&gt;
 * results:  id utf8, generated_text utf8?, finish_reason utf8?, prompt_tokens int32?, new_tokens int32?,
 *           token_ids list&lt;int32&gt;, acceptance float64?, tokens_per_s float64?, drafts_proposed int64,
 *           drafts_accepted int64, error utf8?            (? = null on a failed row; acceptance also without drafts)
 * </pre>
 *
 * Buffers come from a child of one per-JVM {@link RootAllocator}: open one per batch with {@link #allocator} and
 * close it (after the batches it allocated) to return the memory; closing it with a batch still open throws, so
 * leaks show up in tests.
 */
public final class ArrowBatches {
    /** Request batch schema. */
    public static final Schema REQUESTS = new Schema(List.of(
            utf8("id"), utf8("prompt"), int32("max_new_tokens"), float32("temperature"), int32("top_k"),
            float32("top_p"), int64("seed"), list("stop", utf8("item"))));
    /** Result batch schema. */
    public static final Schema RESULTS = new Schema(List.of(
            utf8("id"), utf8("generated_text"), utf8("finish_reason"), int32("prompt_tokens"), int32("new_tokens"),
            list("token_ids", int32("item")), float64("acceptance"), float64("tokens_per_s"), int64("drafts_proposed"),
            int64("drafts_accepted"), utf8("error")));

    private static volatile RootAllocator root;

    private ArrowBatches() {
    }

    /** A fresh child allocator of the JVM's Arrow root allocator; close it when its batches are closed. */
    public static BufferAllocator allocator(String name) {
        RootAllocator r = root;
        if (r == null) {
            synchronized (ArrowBatches.class) {
                if (root == null) {
                    root = new RootAllocator(Long.MAX_VALUE);
                }
                r = root;
            }
        }
        return r.newChildAllocator(name, 0, Long.MAX_VALUE);
    }

    /** Packs requests into a {@link #REQUESTS} batch (caller closes it). */
    public static VectorSchemaRoot writeRequests(List<GenerationRequest> requests, BufferAllocator allocator) {
        VectorSchemaRoot b = VectorSchemaRoot.create(REQUESTS, allocator);
        try {
            b.allocateNew();
            ListVector stop = (ListVector) b.getVector("stop");
            VarCharVector stopItems = (VarCharVector) stop.getDataVector();
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                SamplingParams p = r.params();
                setString(b.getVector("id"), i, r.id());
                setString(b.getVector("prompt"), i, r.prompt());
                ((IntVector) b.getVector("max_new_tokens")).setSafe(i, p.maxNewTokens());
                ((Float4Vector) b.getVector("temperature")).setSafe(i, p.temperature());
                ((IntVector) b.getVector("top_k")).setSafe(i, p.topK());
                ((Float4Vector) b.getVector("top_p")).setSafe(i, p.topP());
                ((BigIntVector) b.getVector("seed")).setSafe(i, p.seed());
                int start = stop.startNewValue(i);
                for (int j = 0; j < p.stop().size(); j++) {
                    stopItems.setSafe(start + j, p.stop().get(j).getBytes(StandardCharsets.UTF_8));
                }
                stop.endValue(i, p.stop().size());
            }
            b.setRowCount(requests.size());
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** Reads the requests of a {@link #REQUESTS} batch. */
    public static List<GenerationRequest> readRequests(VectorSchemaRoot b) {
        ListVector stop = (ListVector) b.getVector("stop");
        VarCharVector stopItems = (VarCharVector) stop.getDataVector();
        List<GenerationRequest> out = new ArrayList<>(b.getRowCount());
        for (int i = 0; i < b.getRowCount(); i++) {
            List<String> stops = new ArrayList<>();
            for (int j = stop.getElementStartIndex(i); j < stop.getElementEndIndex(i); j++) {
                stops.add(new String(stopItems.get(j), StandardCharsets.UTF_8));
            }
            SamplingParams p = SamplingParams.greedy(((IntVector) b.getVector("max_new_tokens")).get(i)).withValue(Settings.TEMPERATURE, ((Float4Vector) b.getVector("temperature")).get(i)).withValue(Settings.TOP_K, ((IntVector) b.getVector("top_k")).get(i)).withValue(Settings.TOP_P, ((Float4Vector) b.getVector("top_p")).get(i)).withValue(Settings.SEED, ((BigIntVector) b.getVector("seed")).get(i)).withValue(Settings.STOP, stops);
            out.add(new GenerationRequest(getString(b.getVector("id"), i), getString(b.getVector("prompt"), i), p));
        }
        return out;
    }

    /** Packs engine results into a {@link #RESULTS} batch (caller closes it). */
    public static VectorSchemaRoot writeResults(List<GenerationResult> results, BufferAllocator allocator) {
        VectorSchemaRoot b = VectorSchemaRoot.create(RESULTS, allocator);
        try {
            b.allocateNew();
            ListVector ids = (ListVector) b.getVector("token_ids");
            IntVector idItems = (IntVector) ids.getDataVector();
            for (int i = 0; i < results.size(); i++) {
                RowResult r = RowResult.of(results.get(i));
                setString(b.getVector("id"), i, r.id());
                setString(b.getVector("generated_text"), i, r.text());
                setString(b.getVector("finish_reason"), i, r.finishReason());
                setInt(b.getVector("prompt_tokens"), i, r.promptTokens());
                setInt(b.getVector("new_tokens"), i, r.newTokens());
                int start = ids.startNewValue(i);
                for (int j = 0; j < r.tokenIds().length; j++) {
                    idItems.setSafe(start + j, r.tokenIds()[j]);
                }
                ids.endValue(i, r.tokenIds().length);
                setDouble(b.getVector("acceptance"), i, r.acceptance());
                setDouble(b.getVector("tokens_per_s"), i, r.tokensPerSecond());
                ((BigIntVector) b.getVector("drafts_proposed")).setSafe(i, r.draftsProposed());
                ((BigIntVector) b.getVector("drafts_accepted")).setSafe(i, r.draftsAccepted());
                setString(b.getVector("error"), i, r.error());
            }
            b.setRowCount(results.size());
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** Reads the rows of a {@link #RESULTS} batch. */
    public static List<RowResult> readResults(VectorSchemaRoot b) {
        ListVector ids = (ListVector) b.getVector("token_ids");
        IntVector idItems = (IntVector) ids.getDataVector();
        List<RowResult> out = new ArrayList<>(b.getRowCount());
        for (int i = 0; i < b.getRowCount(); i++) {
            int start = ids.getElementStartIndex(i);
            int[] tokens = new int[ids.getElementEndIndex(i) - start];
            for (int j = 0; j < tokens.length; j++) {
                tokens[j] = idItems.get(start + j);
            }
            out.add(new RowResult(getString(b.getVector("id"), i), getString(b.getVector("generated_text"), i),
                    getString(b.getVector("finish_reason"), i), getInt(b.getVector("prompt_tokens"), i),
                    getInt(b.getVector("new_tokens"), i), tokens, getDouble(b.getVector("acceptance"), i),
                    getDouble(b.getVector("tokens_per_s"), i), ((BigIntVector) b.getVector("drafts_proposed")).get(i),
                    ((BigIntVector) b.getVector("drafts_accepted")).get(i), getString(b.getVector("error"), i)));
        }
        return out;
    }

    private static void setString(FieldVector v, int i, String s) {
        if (s == null) {
            ((VarCharVector) v).setNull(i);
        } else {
            ((VarCharVector) v).setSafe(i, s.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static String getString(FieldVector v, int i) {
        VarCharVector c = (VarCharVector) v;
        return c.isNull(i) ? null : new String(c.get(i), StandardCharsets.UTF_8);
    }

    private static void setInt(FieldVector v, int i, Integer x) {
        if (x == null) {
            ((IntVector) v).setNull(i);
        } else {
            ((IntVector) v).setSafe(i, x);
        }
    }

    private static Integer getInt(FieldVector v, int i) {
        IntVector c = (IntVector) v;
        return c.isNull(i) ? null : c.get(i);
    }

    private static void setDouble(FieldVector v, int i, Double x) {
        if (x == null) {
            ((Float8Vector) v).setNull(i);
        } else {
            ((Float8Vector) v).setSafe(i, x);
        }
    }

    private static Double getDouble(FieldVector v, int i) {
        Float8Vector c = (Float8Vector) v;
        return c.isNull(i) ? null : c.get(i);
    }

    private static Field utf8(String name) {
        return new Field(name, FieldType.nullable(ArrowType.Utf8.INSTANCE), null);
    }

    private static Field int32(String name) {
        return new Field(name, FieldType.nullable(new ArrowType.Int(32, true)), null);
    }

    private static Field int64(String name) {
        return new Field(name, FieldType.nullable(new ArrowType.Int(64, true)), null);
    }

    private static Field float32(String name) {
        return new Field(name, FieldType.nullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)), null);
    }

    private static Field float64(String name) {
        return new Field(name, FieldType.nullable(new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE)), null);
    }

    private static Field list(String name, Field item) {
        return new Field(name, FieldType.nullable(ArrowType.List.INSTANCE), List.of(item));
    }
}
