package dev.ppsd.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtSymbolBlock;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Linear weights packed once for oneDNN on a CPU, the layout PyTorch's own compiler (Inductor) gives a frozen model's
 * weights: {@code mkldnn._reorder_linear_weight} at load, {@code mkldnn._linear_pointwise} per call ({@link
 * #scriptCall}, inside the decoder layer's TorchScript functions), since DJL cannot name these operators. A plain
 * float32 linear goes to the MKL BLAS that PyTorch bundles, which runs its generic kernels on AMD CPUs; a plain
 * bfloat16 one goes to oneDNN on the {@code [out, in]} layout, which it copies into its own at every call. Packed, both
 * run oneDNN's kernels for the CPU on the weight as it is (docs/benchmarks.md has the figures), and each output row is
 * computed the same way whatever rows come with it, so a verify pass over k+1 positions gives the same logits as k+1
 * single steps.
 *
 * <p>A packed weight replaces the plain one (no second copy is kept): it serves only the packed linear; {@link #dense}
 * gives a plain copy back to code that slices or moves it. Float32 and bfloat16 only (float16 has no fast oneDNN kernel
 * on CPUs without AVX-512 FP16 and keeps PyTorch's own GEMV).
 */
public final class PackedLinear {
    /**
     * The packed tensors, by identity (an NDArray's equals compares contents, which a packed tensor cannot do);
     * their owner {@link #forget}s them when it closes them.
     */
    private static final Set<NDArray> PACKED = Collections.synchronizedSet(Collections.newSetFromMap(
            new IdentityHashMap<>()));

    /** The output rows of each weight a packed tensor was {@link #packStacked stacked} from, by identity. */
    private static final Map<NDArray, long[]> STACKED = Collections.synchronizedMap(new IdentityHashMap<>());

    private static volatile Ops ops;
    private static volatile boolean unavailable;

    private PackedLinear() {
    }

    /** The modules, loaded on first use: packing for {@link #PACKED_FOR_ROWS} and {@link #WIDE_PACKED_FOR_ROWS}. */
    private record Ops(PtSymbolBlock pack, PtSymbolBlock packWide, PtSymbolBlock dense) {
    }

    /**
     * The smallest float32 weight packed, in elements (512 KB). On this CPU, one row, the weights streaming from
     * memory: a packed 704×256 or 768×256 weight takes 38–56 us against 54–68 plain, 256×704 the same either way,
     * 256×256 25 us against 23. With the layers in one call, packing the bundled 256-wide model's gate, up and down
     * (and its q/k/v stacked, {@link #packStacked}) made its decode step ~15% faster at batch 1 and every mode
     * faster at batch 8 and 32 (docs/benchmarks.md, "Small weights packed too"). A plain bfloat16 weight is
     * reordered at every call, so every bfloat16 weight is packed.
     */
    static final long MIN_FLOAT32_ELEMENTS = 1L << 17;

    /**
     * The rows per call oneDNN is told to expect when it chooses a weight's packed layout, for weights of fewer than
     * {@link #WIDE_INPUTS} inputs. Decoding calls with 1–32 rows. For the bundled model's 256- and 704-input weights
     * the layout for 64 stays: with the layout for 512 its bench's {@code ppsd} ran slower at batch 8, its default, in
     * all 7 paired rounds (docs/benchmarks.md, "Wide weights packed for 512 rows"), though its weights alone, called in
     * turn, ran faster. Each row's output stays the same bit for bit whatever rows come with it.
     */
    static final int PACKED_FOR_ROWS = 64;

    /**
     * The rows per call oneDNN is told to expect for weights of at least {@link #WIDE_INPUTS} inputs. On this CPU, the
     * 97M model's projections (768 and 2048 inputs) take 9–24% less time a pass at 1, 2, 4 and 16 rows in the layout
     * for 512 than in the layout for 64, within 3% at 8 and 64 rows, 6% less at 32 rows; bfloat16 7% less at 1 and 8
     * rows; and its single-sequence {@code ar} runs 2–22% faster (6 paired rounds).
     */
    static final int WIDE_PACKED_FOR_ROWS = 512;

    /** The inputs from which a weight is packed for {@link #WIDE_PACKED_FOR_ROWS} rows. */
    static final long WIDE_INPUTS = 768;

    /**
     * Whether {@code w} is worth packing: a 2-D weight on an x86-64 CPU, bfloat16 (when the CPU has the AVX-512
     * oneDNN needs for it, the check PyTorch makes before its own bfloat16 matmul) or float32 of at least {@link
     * #MIN_FLOAT32_ELEMENTS}, with PyTorch built with oneDNN (checked once; without it everything stays plain).
     */
    public static boolean packable(NDArray w) {
        return packable(Bfloat16.typeOf(w), w.getDevice(), w.getShape());
    }

    /** As {@link #packable(NDArray)}, for a weight of this type, device and shape (a stack not built yet). */
    private static boolean packable(DataType t, Device device, Shape shape) {
        boolean worth = t == DataType.BFLOAT16 ? CpuFeatures.AVX512_BF16_CAPABLE
                : t == DataType.FLOAT32 && shape.size() >= MIN_FLOAT32_ELEMENTS;
        return worth && CpuFeatures.X86_64 && Device.Type.CPU.equals(device.getDeviceType())
                && shape.dimension() == 2 && ops() != null;
    }

    /** What this machine's CPU offers oneDNN, read once. */
    static final class CpuFeatures {
        /** Whether the JVM runs on x86-64, where the packed kernels were measured. */
        static final boolean X86_64 = Set.of("amd64", "x86_64").contains(System.getProperty("os.arch"));
        /**
         * Whether /proc/cpuinfo lists avx512bw, avx512vl and avx512dq (PyTorch's mkldnn_bf16_device_check): without
         * them oneDNN has no fast bfloat16 kernel and a packed weight could run slower than PyTorch's own.
         */
        static final boolean AVX512_BF16_CAPABLE = flags().containsAll(Set.of("avx512bw", "avx512vl", "avx512dq"));

        private CpuFeatures() {
        }

        private static Set<String> flags() {
            try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(java.nio.file.Path.of(
                    "/proc/cpuinfo"))) {
                return lines.filter(l -> l.startsWith("flags")).findFirst()
                        .map(l -> Set.<String>copyOf(java.util.Arrays.asList(l.substring(l.indexOf(':') + 1).trim()
                                .split("\\s+")))).orElse(Set.of());
            } catch (java.io.IOException | RuntimeException e) { // not Linux: no packed bfloat16
                return Set.of();
            }
        }
    }

    /** Whether {@code w} is a packed weight. */
    public static boolean isPacked(NDArray w) {
        return w != null && PACKED.contains(w);
    }

    /**
     * {@code w [out, in]} packed, owned by {@code w}'s manager; {@code w} is closed. Returns {@code w} itself when
     * it is not {@link #packable} or already packed.
     */
    public static NDArray pack(NDArray w) {
        if (isPacked(w) || !packable(w)) {
            return w;
        }
        NDArray p = TorchScripts.run(w.getShape().get(1) >= WIDE_INPUTS ? ops().packWide() : ops().pack(), w);
        p.attach(w.getManager());
        PACKED.add(p);
        w.close();
        return p;
    }

    /**
     * Weights {@code [out_i, in]} of the same input stacked into one {@code [sum out_i, in]} and packed, so that one
     * call computes all of their outputs side by side (q, k and v of a layer); the weights are closed. oneDNN is
     * slower on 768 outputs than on 2304: the 97M model's single-sequence {@code ar} runs 2.7% faster with its q/k/v
     * stacked (docs/benchmarks.md). Whether to pack is asked of the stacked weight: the bundled model's 256×256 q, k
     * and v are too small to pack one by one, their 768×256 stack is not. Null when the stack is not {@link #packable},
     * one of them is packed already, or their inputs or types differ: then nothing is changed.
     */
    public static NDArray packStacked(NDArray... ws) {
        long[] rows = new long[ws.length];
        long stackedRows = 0;
        for (int i = 0; i < ws.length; i++) {
            if (isPacked(ws[i]) || ws[i].getShape().dimension() != 2
                    || ws[i].getShape().get(1) != ws[0].getShape().get(1)
                    || Bfloat16.typeOf(ws[i]) != Bfloat16.typeOf(ws[0])) {
                return null;
            }
            rows[i] = ws[i].getShape().get(0);
            stackedRows += rows[i];
        }
        if (!packable(Bfloat16.typeOf(ws[0]), ws[0].getDevice(), new Shape(stackedRows, ws[0].getShape().get(1)))) {
            return null; // asked before the stack is built: most weights that cannot be packed never are copied
        }
        NDArray stacked = ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(ws), 0);
        stacked.attach(ws[0].getManager());
        for (NDArray w : ws) {
            w.close();
        }
        NDArray p = pack(stacked);
        STACKED.put(p, rows);
        return p;
    }

    /** Whether {@code w} is a packed tensor made by {@link #packStacked}. */
    public static boolean isStacked(NDArray w) {
        return w != null && STACKED.containsKey(w);
    }

    /**
     * Plain copies of the weights {@link #packStacked stacked} into {@code w}, in their order, owned by its manager.
     */
    public static List<NDArray> unstack(NDArray w) {
        long[] rows = STACKED.get(w);
        NDArray plain = dense(w);
        List<NDArray> out = new ArrayList<>();
        long from = 0;
        for (long r : rows) {
            NDArray part = plain.get(new ai.djl.ndarray.index.NDIndex().addSliceDim(from, from + r)).duplicate();
            part.attach(w.getManager());
            out.add(part);
            from += r;
        }
        plain.close();
        return out;
    }

    /** Drops {@code w} from the packed tensors (its owner closes it); nothing for a null or plain tensor. */
    public static void forget(NDArray w) {
        if (w != null) {
            PACKED.remove(w);
            STACKED.remove(w);
        }
    }

    /**
     * {@code x [..., in] -> [..., out]}: {@code x W^T + bias} with a packed {@code w} ({@code bias} may be null), as a
     * call of its own: the expression the decoder layer's functions run inline ({@link #scriptCall}), for the tests
     * of the kernel. Its modules are loaded at the first call.
     */
    static NDArray linear(NDArray x, NDArray w, NDArray bias) {
        return bias == null ? TorchScripts.run(OneCall.LINEAR, x, w)
                : TorchScripts.run(OneCall.LINEAR_BIAS, x, w, bias);
    }

    /** {@link #linear}'s modules. */
    private static final class OneCall {
        static final PtSymbolBlock LINEAR = TorchScripts.load("packed_linear", "x: Tensor, w: Tensor",
                scriptCall("x", "w", "None"));
        static final PtSymbolBlock LINEAR_BIAS = TorchScripts.load("packed_linear_bias",
                "x: Tensor, w: Tensor, b: Tensor", scriptCall("x", "w", "b"));

        private OneCall() {
        }
    }

    /**
     * The TorchScript expression of the packed linear, {@code x W^T + bias}, for the variables {@code x}, a packed
     * weight {@code w} and {@code bias} ({@code "None"} for none), for a function that runs it among other operations.
     */
    public static String scriptCall(String x, String w, String bias) {
        return "ops.mkldnn._linear_pointwise(" + x + ", " + w + ", " + bias + ", \"none\", [], \"\")";
    }

    /** A plain copy of packed {@code w}, owned by its manager; {@code w} itself when it is not packed. */
    public static NDArray dense(NDArray w) {
        if (!isPacked(w)) {
            return w;
        }
        NDArray d = TorchScripts.run(ops().dense(), w);
        d.attach(w.getManager());
        return d;
    }

    /** A new plain copy of {@code w} (packed or not), owned by {@code owner}: for a weight that will be trained. */
    public static NDArray plainCopy(NDArray w, ai.djl.ndarray.NDManager owner) {
        NDArray plain = dense(w);
        NDArray copy = plain == w ? w.duplicate() : plain;
        copy.attach(owner);
        return copy;
    }

    /** The module packing a weight in the layout oneDNN chooses for calls of {@code rows} rows. */
    private static PtSymbolBlock packFor(int rows) {
        return TorchScripts.load("pack_linear_" + rows, "w: Tensor",
                "ops.mkldnn._reorder_linear_weight(w, " + rows + ")");
    }

    private static Ops ops() {
        if (ops == null && !unavailable) {
            synchronized (PackedLinear.class) {
                if (ops == null && !unavailable) {
                    try {
                        ops = new Ops(packFor(PACKED_FOR_ROWS), packFor(WIDE_PACKED_FOR_ROWS),
                                TorchScripts.load("packed_dense", "w: Tensor", "w.to_dense()"));
                    } catch (RuntimeException e) { // a PyTorch built without oneDNN: linears stay plain
                        unavailable = true;
                    }
                }
            }
        }
        return ops;
    }
}
