package dev.ppsd.engine.runtime;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * TorchScript modules written in memory: PyTorch operations that DJL 0.35.1 cannot call itself (bfloat16
 * conversions, oneDNN's packed linear), and functions of many operations run as one call (the decoder layer's, in
 * {@code model.DecoderLayer}, whose cached one takes lists of tensors and integers: {@link #runWithLists}). A
 * module's {@code forward} takes tensors and returns one expression of them ({@link #load}) or runs a list of
 * statements ({@link #loadFunction}); it is loaded once and kept for the JVM's life. A call costs about 15-50 us on
 * top of its operations.
 */
public final class TorchScripts {
    /** The loaded modules' models, held so that nothing frees their native handles while the JVM runs. */
    private static final List<Model> MODELS = new CopyOnWriteArrayList<>();

    private TorchScripts() {
    }

    /**
     * Loads a module whose {@code forward(params)} returns {@code expression}; {@code params} as TorchScript
     * writes them, e.g. {@code "x: Tensor, w: Tensor"}. Operators outside {@code torch.} are spelled as the
     * serialized form spells them ({@code ops.mkldnn._linear_pointwise}).
     */
    public static PtSymbolBlock load(String name, String params, String expression) {
        return loadFunction(name, params, "Tensor", List.of("return " + expression));
    }

    /**
     * Loads a module whose {@code forward(params) -> returns} runs {@code statements} (TorchScript lines without
     * their indentation; an {@code if} block's lines indented by two more spaces each), e.g. returning
     * {@code Tuple[Tensor, Tensor]}.
     */
    public static PtSymbolBlock loadFunction(String name, String params, String returns, List<String> statements) {
        DjlRuntime.init();
        Model model = Model.newInstance(name, Device.cpu(), "PyTorch");
        try {
            model.load(new ByteArrayInputStream(archive(params, returns, statements)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (MalformedModelException e) {
            throw new IllegalStateException("cannot load the TorchScript module " + name + ": " + e.getMessage(), e);
        }
        MODELS.add(model);
        return (PtSymbolBlock) model.getBlock();
    }

    /**
     * Runs {@code block} on {@code inputs} in training mode: outside PyTorch's inference mode, so the result is an
     * ordinary tensor that may be updated in place (a KV cache), and no graph is recorded (no input needs one).
     * The result belongs to the first input's manager.
     */
    public static NDArray run(PtSymbolBlock block, NDArray... inputs) {
        return IValueUtils.forward(block, new NDList(inputs), true).singletonOrThrow();
    }

    /** {@link #run} for a module that returns a tuple of tensors: its elements in order. */
    public static NDList runTuple(PtSymbolBlock block, NDArray... inputs) {
        return IValueUtils.forward(block, new NDList(inputs), true);
    }

    /**
     * {@link #run} for a module whose parameters include lists: each input is a tensor ({@code NDArray}), a list of
     * tensors ({@code NDArray[]}, {@code List[Tensor]}) or a list of integers ({@code long[]}, {@code List[int]}). A
     * list goes to libtorch as one value whatever its length (a tensor each costs a Java object and a native call of
     * its own). Unlike {@link #run} the module runs as DJL runs inference, which may update tensors in place (a KV
     * cache); its result is not differentiable. It belongs to the first input's manager.
     */
    public static NDArray runWithLists(PtSymbolBlock block, Object... inputs) {
        IValue[] values = new IValue[inputs.length];
        try {
            for (int i = 0; i < inputs.length; i++) {
                Object in = inputs[i];
                if (in instanceof NDArray a) {
                    values[i] = IValue.from((PtNDArray) a);
                } else if (in instanceof NDArray[] list) {
                    values[i] = IValue.listFrom(Arrays.copyOf(list, list.length, PtNDArray[].class));
                } else if (in instanceof long[] ints) {
                    values[i] = IValue.listFrom(ints);
                } else {
                    throw new IllegalArgumentException("not a tensor, tensor list or int list: " + in);
                }
            }
            try (IValue out = IValueUtils.forward(block, values)) {
                return out.toTensor((PtNDManager) ((NDArray) inputs[0]).getManager());
            }
        } finally {
            for (IValue v : values) {
                if (v != null) {
                    v.close();
                }
            }
        }
    }

    /**
     * A TorchScript archive (a zip) of a module {@code M} with no parameters whose {@code forward(params) -> returns}
     * runs {@code statements}: its source ({@code code/__torch__.py}), the pickled module object ({@code data.pkl}:
     * an {@code __torch__.M} with {@code training = True}), empty constants and the format version.
     */
    static byte[] archive(String params, String returns, List<String> statements) {
        StringBuilder code = new StringBuilder("class M(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: __torch__.M,\n"
                + "    " + params + ") -> " + returns + ":\n");
        for (String line : statements) {
            code.append("    ").append(line).append('\n');
        }
        ByteArrayOutputStream pickle = new ByteArrayOutputStream();
        // PROTO 2; GLOBAL __torch__ M; EMPTY_TUPLE; NEWOBJ; EMPTY_DICT; BINUNICODE "training"; NEWTRUE; SETITEM;
        // BUILD; STOP
        pickle.writeBytes(new byte[] {(byte) 0x80, 2});
        pickle.writeBytes("c__torch__\nM\n".getBytes(StandardCharsets.US_ASCII));
        pickle.writeBytes(new byte[] {')', (byte) 0x81, '}', 'X', 8, 0, 0, 0});
        pickle.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
        pickle.writeBytes(new byte[] {(byte) 0x88, 's', 'b', '.'});
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            entry(z, "data.pkl", pickle.toByteArray());
            entry(z, "code/__torch__.py", code.toString().getBytes(StandardCharsets.UTF_8));
            entry(z, "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // an empty tuple
            entry(z, "version", "3\n".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return zip.toByteArray();
    }

    private static void entry(ZipOutputStream z, String name, byte[] bytes) throws IOException {
        z.putNextEntry(new ZipEntry("m/" + name));
        z.write(bytes);
        z.closeEntry();
    }
}
