package dev.ppsd.engine.checkpoint;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import dev.ppsd.engine.runtime.Bfloat16;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}}} and the raw little-endian tensor bytes.
 * Supported dtypes: F32, F16, BF16, read as float ({@link Reader#readFloats}) or streamed into a tensor of any of
 * those types ({@link Reader#toNDArray}).
 */
public final class Safetensors {
    private Safetensors() {
    }

    /** One tensor's entry in a safetensors header. */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public long elements() {
            return Safetensors.elements(shape);
        }

        public String shapeString() {
            return Arrays.toString(shape);
        }
    }

    /** An open safetensors file: its header and access to each tensor's values. */
    public static final class Reader implements AutoCloseable {
        /** Largest piece of a tensor mapped and converted at once (1 GiB; mappings must stay under 2 GiB). */
        static final long CHUNK_BYTES = 1L << 30;

        private final Path file;
        private final FileChannel channel;
        private final long dataStart;
        private final Map<String, TensorInfo> tensors;

        private Reader(Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors) {
            this.file = file;
            this.channel = channel;
            this.dataStart = dataStart;
            this.tensors = tensors;
        }

        public Path file() {
            return file;
        }

        public Map<String, TensorInfo> tensors() {
            return tensors;
        }

        /** The values of tensor {@code name} as float, converted from its stored dtype. */
        public float[] readFloats(String name) {
            TensorInfo t = tensors.get(name);
            if (t == null) {
                throw new ModelLoadException(file, "tensor " + name + " not found");
            }
            long bytes = t.end() - t.begin(); // (the header's entry matched it to the shape)
            if (bytes > Integer.MAX_VALUE - 8) {
                throw new ModelLoadException(file, "tensor " + name + " is too large for one array");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
            try {
                long pos = dataStart + t.begin();
                while (buf.hasRemaining()) {
                    int n = channel.read(buf, pos);
                    if (n < 0) {
                        throw new ModelLoadException(file, "truncated: tensor " + name + " ends past end of file");
                    }
                    pos += n;
                }
            } catch (IOException e) {
                throw new ModelLoadException(file, "cannot read tensor " + name + ": " + e.getMessage(), e);
            }
            buf.flip();
            float[] out = new float[(int) t.elements()];
            switch (t.dtype()) {
                case "F32" -> buf.asFloatBuffer().get(out);
                case "F16" -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = HalfFloats.halfToFloat(buf.getShort());
                    }
                }
                case "BF16" -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
                    }
                }
                default -> throw new ModelLoadException(file, "tensor " + name + ": unknown dtype " + t.dtype());
            }
            return out;
        }

        /**
         * Tensor {@code name} as an NDArray of {@code type} on {@code m}'s device, owned by {@code m}, streamed from
         * the file without passing through the Java heap: each chunk of at most {@link #CHUNK_BYTES} (whole rows
         * of the first axis) is memory-mapped, wrapped as a tensor of the stored dtype without a copy, and
         * converted (copied) into memory the engine owns; chunks are concatenated along the first axis. Peak
         * extra memory is one chunk's conversion, never a Java array of the tensor.
         */
        public NDArray toNDArray(NDManager m, String name, DataType type) {
            TensorInfo t = tensors.get(name);
            if (t == null) {
                throw new ModelLoadException(file, "tensor " + name + " not found");
            }
            Shape shape = new Shape(t.shape());
            if (t.elements() == 0) {
                return Bfloat16.toType(m.zeros(shape, DataType.FLOAT32), type);
            }
            // DJL cannot name bfloat16: BF16 bytes are wrapped as FLOAT16 (the same width) and reinterpreted
            DataType stored = t.dtype().equals("F32") ? DataType.FLOAT32 : DataType.FLOAT16;
            boolean bf16 = t.dtype().equals("BF16");
            long rows = t.shape().length == 0 ? 1 : t.shape()[0];
            long rowBytes = (t.end() - t.begin()) / rows;
            long perChunk = Math.max(1, CHUNK_BYTES / rowBytes);
            if (perChunk * rowBytes > Integer.MAX_VALUE) {
                throw new ModelLoadException(file, "tensor " + name + ": one row of " + rowBytes
                        + " bytes is too large to map");
            }
            List<NDArray> parts = new ArrayList<>();
            try (NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
                for (long r = 0; r < rows; r += perChunk) {
                    long n = Math.min(perChunk, rows - r);
                    ByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin() + r * rowBytes,
                            n * rowBytes).order(ByteOrder.LITTLE_ENDIAN);
                    Shape part = t.shape().length == 0 ? shape : new Shape(n).addAll(shape.slice(1));
                    NDArray raw = scratch.create(mapped, part, stored); // aliases the mapping: no copy
                    NDArray view = bf16 ? Bfloat16.fromBits(raw) : raw;
                    // a copy the engine owns: a conversion makes new storage, an unchanged type needs a clone
                    NDArray owned = Bfloat16.typeOf(view) == type ? view.duplicate() : Bfloat16.toType(view, type);
                    if (!m.getDevice().equals(owned.getDevice())) {
                        owned = Bfloat16.toDevice(owned, m.getDevice());
                    }
                    owned.attach(m);
                    parts.add(owned);
                }
            } catch (IOException e) {
                parts.forEach(NDArray::close);
                throw new ModelLoadException(file, "cannot read tensor " + name + ": " + e.getMessage(), e);
            }
            if (parts.size() == 1) {
                return parts.get(0);
            }
            NDArray whole = NDArrays.concat(new NDList(parts), 0); // [rows chunk by chunk] -> [rows, ...]
            whole.attach(m);
            parts.forEach(NDArray::close);
            return whole;
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // read-only file: nothing to flush
            }
        }
    }

    /** Opens {@code file} and parses its header; errors name the file and what is wrong with it. */
    public static Reader open(Path file) {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(file, "missing file");
        } catch (IOException e) {
            throw new ModelLoadException(file, "cannot open: " + e.getMessage(), e);
        }
        try {
            long size = ch.size();
            if (size < 8) {
                throw new ModelLoadException(file, "truncated safetensors header: file has " + size + " bytes");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lenBuf, 0);
            lenBuf.flip();
            long headerLen = lenBuf.getLong();
            if (headerLen <= 0 || headerLen > 100_000_000L || 8 + headerLen > size) {
                throw new ModelLoadException(file, "truncated or corrupt safetensors header: header length "
                        + headerLen + " but file has " + size + " bytes");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            while (hb.hasRemaining()) {
                if (ch.read(hb, 8 + hb.position()) < 0) {
                    throw new ModelLoadException(file, "truncated safetensors header");
                }
            }
            JsonObject header;
            try {
                header = JsonParser.parseString(new String(hb.array(), StandardCharsets.UTF_8)).getAsJsonObject();
            } catch (RuntimeException e) {
                throw new ModelLoadException(file, "corrupt safetensors header (not JSON): " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                TensorInfo t = entry(file, e.getKey(), e.getValue());
                if (t.end() > dataLen) {
                    throw new ModelLoadException(file, "truncated: tensor " + e.getKey() + " needs bytes up to "
                            + t.end() + " but the data section has " + dataLen);
                }
                tensors.put(e.getKey(), t);
            }
            return new Reader(file, ch, dataStart, tensors);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new ModelLoadException(file, "cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    /**
     * One header entry, validated: an object with a string {@code dtype} the engine reads, a {@code shape} of
     * non-negative integers and {@code data_offsets} {@code [begin, end]} with {@code 0 <= begin <= end} covering
     * exactly the shape's bytes. Anything else (a missing or misspelt key, a wrong type) is an error naming the
     * file and the tensor.
     */
    private static TensorInfo entry(Path file, String name, JsonElement value) {
        String where = "tensor " + name + ": ";
        if (!value.isJsonObject()) {
            throw new ModelLoadException(file, where + "header entry must be an object but was " + value);
        }
        JsonObject t = value.getAsJsonObject();
        for (String key : new String[] {"dtype", "shape", "data_offsets"}) {
            if (!t.has(key)) {
                throw new ModelLoadException(file, where + "header entry has no " + key + " (it has: "
                        + String.join(", ", t.keySet()) + ")");
            }
        }
        JsonElement d = t.get("dtype");
        if (!d.isJsonPrimitive() || !d.getAsJsonPrimitive().isString()) {
            throw new ModelLoadException(file, where + "dtype must be a string but was " + d);
        }
        String dtype = d.getAsString();
        dtypeWidthOrFail(file, name, dtype);
        long[] shape = longs(file, where + "shape", t.get("shape"), -1);
        long[] offsets = longs(file, where + "data_offsets", t.get("data_offsets"), 2);
        long elements;
        try {
            elements = Arrays.stream(shape).reduce(1, Math::multiplyExact);
            Math.multiplyExact(elements, (long) dtypeWidth(dtype));
        } catch (ArithmeticException ex) {
            throw new ModelLoadException(file, where + "shape " + Arrays.toString(shape) + " is too large");
        }
        if (offsets[0] > offsets[1]) {
            throw new ModelLoadException(file, where + "data_offsets " + Arrays.toString(offsets)
                    + " begin after they end");
        }
        long bytes = offsets[1] - offsets[0];
        if (bytes != elements * dtypeWidth(dtype)) {
            throw new ModelLoadException(file, where + "has " + bytes + " bytes but shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + elements * dtypeWidth(dtype));
        }
        return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** A JSON array of non-negative integers ({@code size} of them unless -1). */
    private static long[] longs(Path file, String what, JsonElement e, int size) {
        String problem = what + " must be " + (size < 0 ? "a list" : "a list of " + size)
                + " of non-negative integers but was " + e;
        if (!e.isJsonArray() || (size >= 0 && e.getAsJsonArray().size() != size)) {
            throw new ModelLoadException(file, problem);
        }
        long[] out = new long[e.getAsJsonArray().size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement x = e.getAsJsonArray().get(i);
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) {
                throw new ModelLoadException(file, problem);
            }
            java.math.BigDecimal v = x.getAsBigDecimal();
            if (v.signum() < 0 || v.stripTrailingZeros().scale() > 0 || v.compareTo(java.math.BigDecimal.valueOf(
                    Long.MAX_VALUE)) > 0) {
                throw new ModelLoadException(file, problem);
            }
            out[i] = v.longValueExact();
        }
        return out;
    }

    /** A named tensor to write: values in row-major order and its shape. */
    public record Tensor(float[] values, long... shape) {
    }

    /**
     * Writes tensors in the given order to {@code file} with the given dtype (F32, F16 or BF16);
     * the file appears atomically (written beside it, then moved).
     */
    public static void write(Path file, Map<String, Tensor> tensors, String dtype) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            if (elements(t.shape()) != t.values().length) {
                throw new IllegalArgumentException("tensor " + name + " has " + t.values().length
                        + " values but shape " + Arrays.toString(t.shape()));
            }
            shapes.put(name, t.shape());
        });
        write(file, shapes, dtype, name -> tensors.get(name).values());
    }

    /**
     * Writes the tensors named in {@code shapes} (in its order) to {@code file} in {@code dtype}, asking
     * {@code values} for each one's values only when it is written: a large checkpoint never sits on the heap.
     * The file appears atomically (written beside it, then moved).
     */
    public static void write(Path file, Map<String, long[]> shapes, String dtype,
            java.util.function.Function<String, float[]> values) throws IOException {
        int width = dtypeWidth(dtype);
        JsonObject header = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("format", "pt");
        header.add("__metadata__", meta);
        long offset = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long n = elements(e.getValue());
            JsonObject o = new JsonObject();
            o.addProperty("dtype", dtype);
            com.google.gson.JsonArray shape = new com.google.gson.JsonArray();
            for (long d : e.getValue()) {
                shape.add(d);
            }
            o.add("shape", shape);
            com.google.gson.JsonArray offs = new com.google.gson.JsonArray();
            offs.add(offset);
            offs.add(offset + n * width);
            o.add("data_offsets", offs);
            header.add(e.getKey(), o);
            offset += n * width;
        }
        byte[] hb = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - hb.length % 8) % 8;
        byte[] padded = Arrays.copyOf(hb, hb.length + pad);
        Arrays.fill(padded, hb.length, padded.length, (byte) ' ');
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length);
            out.write(len.array());
            out.write(padded);
            ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                float[] v = values.apply(e.getKey());
                if (v.length != elements(e.getValue())) {
                    throw new IllegalArgumentException("tensor " + e.getKey() + " has " + v.length
                            + " values but shape " + Arrays.toString(e.getValue()));
                }
                for (float x : v) {
                    if (b.remaining() < width) {
                        out.write(b.array(), 0, b.position());
                        b.clear();
                    }
                    switch (dtype) {
                        case "F32" -> b.putFloat(x);
                        case "F16" -> b.putShort(HalfFloats.floatToHalf(x));
                        default -> b.putShort(HalfFloats.floatToBfloat16(x));
                    }
                }
            }
            out.write(b.array(), 0, b.position());
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    static int dtypeWidth(String dtype) {
        return switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new IllegalArgumentException("unknown dtype " + dtype + " (supported: F32, F16, BF16)");
        };
    }

    private static void dtypeWidthOrFail(Path file, String tensor, String dtype) {
        try {
            dtypeWidth(dtype);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file, "tensor " + tensor + ": " + e.getMessage());
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // already failing
        }
    }
}
