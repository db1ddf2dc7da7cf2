package dev.ppsd.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtSymbolBlock;

/**
 * bfloat16 tensors on DJL 0.35.1's PyTorch engine. Its JNI maps DJL types to PyTorch's only up to COMPLEX64, so
 * every call that names {@code BFLOAT16} ({@code toType}, {@code zeros}, {@code create}) aborts the JVM, and a
 * bfloat16 tensor reports {@link DataType#UNKNOWN} (so {@code softmax}, {@code toDevice} and {@code toString},
 * which pass the tensor's own type back, abort too). PyTorch itself computes in bfloat16 fine: this class makes
 * such tensors with two one-line {@link TorchScripts} modules:
 * <ul>
 *   <li>{@link #of}: {@code torch.to(x, 15)} (15 = torch.bfloat16), a converted copy;</li>
 *   <li>{@link #fromBits}: a bfloat16 view of the 2-byte storage of {@code x} ({@code set_} onto its storage;
 *       TorchScript has no {@code view(dtype)}), for tensors read from a file's BF16 bytes.</li>
 * </ul>
 * Everything else the decoder does (linear, matmul, add, mul, indexing, copies, {@code toType(FLOAT32)}) works on
 * bfloat16 tensors through DJL as it is. A module call costs about 20-50 us; the decoder makes three per layer.
 */
public final class Bfloat16 {
    /** PyTorch's ScalarType code of bfloat16. */
    private static final int TORCH_BFLOAT16 = 15;

    private static volatile PtSymbolBlock to;
    private static volatile PtSymbolBlock bits;

    private Bfloat16() {
    }

    /** Whether {@code x} is a bfloat16 tensor (DJL calls its type UNKNOWN; the engine makes no other such type). */
    public static boolean is(NDArray x) {
        return x.getDataType() == DataType.UNKNOWN;
    }

    /** {@code x} converted to a new bfloat16 tensor on its device, owned by its manager. */
    public static NDArray of(NDArray x) {
        return run(to(), x);
    }

    /**
     * A bfloat16 tensor sharing the storage of {@code halfBits}, a 2-byte tensor (FLOAT16) holding bfloat16 bit
     * patterns: a reinterpretation, not a conversion. Its lifetime is that of {@code halfBits}' storage.
     */
    public static NDArray fromBits(NDArray halfBits) {
        if (halfBits.getDataType() != DataType.FLOAT16) {
            throw new IllegalArgumentException("bfloat16 bits must come as a FLOAT16 tensor but was "
                    + halfBits.getDataType());
        }
        return run(bits(), halfBits);
    }

    /** {@code x} as {@code type} (FLOAT32, FLOAT16, or BFLOAT16 through {@link #of}); itself when it already is. */
    public static NDArray toType(NDArray x, DataType type) {
        if (type == DataType.BFLOAT16) {
            return is(x) ? x : of(x);
        }
        return x.getDataType() == type ? x : x.toType(type, false);
    }

    /** The engine's name for {@code x}'s type: BFLOAT16 where DJL says UNKNOWN. */
    public static DataType typeOf(NDArray x) {
        return is(x) ? DataType.BFLOAT16 : x.getDataType();
    }

    /**
     * {@code x} copied to {@code device} ({@code toDevice} would pass UNKNOWN for a bfloat16 tensor): a bfloat16
     * tensor moves as float32 (exact) and is converted back there.
     */
    public static NDArray toDevice(NDArray x, Device device) {
        if (!is(x)) {
            return x.toDevice(device, true);
        }
        try (NDArray wide = x.toType(DataType.FLOAT32, false); NDArray moved = wide.toDevice(device, false)) {
            return of(moved);
        }
    }

    /** As {@link #toDevice(NDArray, Device)}, the copy owned by {@code owner}; null stays null. */
    public static NDArray toDevice(NDArray x, Device device, NDManager owner) {
        if (x == null) {
            return null;
        }
        NDArray c = toDevice(x, device);
        c.attach(owner);
        return c;
    }

    private static PtSymbolBlock to() {
        if (to == null) {
            synchronized (Bfloat16.class) {
                if (to == null) {
                    to = load("to_bf16", "torch.to(x, " + TORCH_BFLOAT16 + ")");
                }
            }
        }
        return to;
    }

    private static PtSymbolBlock bits() {
        if (bits == null) {
            synchronized (Bfloat16.class) {
                if (bits == null) {
                    bits = load("bits_bf16", "torch.empty([0], dtype=" + TORCH_BFLOAT16
                            + ").set_(x, 0, x.size(), x.stride())");
                }
            }
        }
        return bits;
    }

    private static NDArray run(PtSymbolBlock block, NDArray x) {
        return TorchScripts.run(block, x);
    }

    private static PtSymbolBlock load(String name, String expression) {
        return TorchScripts.load(name, "x: Tensor", expression);
    }
}
