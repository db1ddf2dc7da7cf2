package dev.ppsd.tools.cli;

import dev.ppsd.engine.model.FamilyModels;
import dev.ppsd.engine.model.Family;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaWeights;
import dev.ppsd.engine.model.RopeScaling;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code ppsd random-model}: writes a random-weight Llama model of any size in the Hugging Face layout (config.json,
 * model.safetensors, a byte-level tokenizer.json), for benchmarks where the bundled model is too small: weight
 * streaming rather than per-op overhead dominates at GPT-2-small size (the default: hidden 768, 12 layers,
 * intermediate 2048, vocabulary 8192, about 90M parameters). {@code --late-scale} scales the residual projections
 * of the layers after {@code --exit-layer}, which controls how often a drafter at that layer agrees with the full
 * model (1: a random model, where it rarely does; towards 0: almost always).
 */
@Command(name = "random-model", synopsisHeading = "usage: ", sortOptions = false,
        description = "write a random-weight Llama model (benchmarks on bigger models)")
final class RandomModelCommand implements Callable<Integer> {
    @Mixin
    private HelpOption help;
    @Spec
    private CommandSpec spec;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "the model folder to write")
    private Path out;
    @Option(names = "--hidden", defaultValue = "768", description = "hidden_size (default ${DEFAULT-VALUE})")
    private int hidden;
    @Option(names = "--layers", defaultValue = "12", description = "num_hidden_layers (default ${DEFAULT-VALUE})")
    private int layers;
    @Option(names = "--intermediate", defaultValue = "2048",
            description = "intermediate_size (default ${DEFAULT-VALUE})")
    private int intermediate;
    @Option(names = "--heads", defaultValue = "12", description = "num_attention_heads (default ${DEFAULT-VALUE})")
    private int heads;
    @Option(names = "--kv-heads", defaultValue = "12",
            description = "num_key_value_heads (default ${DEFAULT-VALUE})")
    private int kvHeads;
    @Option(names = "--vocab", defaultValue = "8192", description = "vocab_size (default ${DEFAULT-VALUE})")
    private int vocab;
    @Option(names = "--context", defaultValue = "1024",
            description = "max_position_embeddings (default ${DEFAULT-VALUE})")
    private int context;
    @Option(names = "--exit-layer", defaultValue = "0", description = "layers after it get --late-scale (0 = half)")
    private int exitLayer;
    @Option(names = "--late-scale", defaultValue = "1.0", description = "scale of the residual projections after"
            + " the exit layer (default ${DEFAULT-VALUE})")
    private double lateScale;
    @Option(names = "--weights-dtype", defaultValue = "float32", description = "float32, bfloat16 or float16"
            + " (torch_dtype and the file's dtype; default ${DEFAULT-VALUE})")
    private String dtype;
    @Option(names = "--seed", defaultValue = "1")
    private long seed;

    @Override
    public Integer call() throws IOException {
        if (heads <= 0 || hidden % heads != 0) {
            throw new IllegalArgumentException("--hidden " + hidden + " must be a multiple of --heads " + heads);
        }
        if (!List.of("float32", "bfloat16", "float16").contains(dtype)) {
            throw new IllegalArgumentException("--weights-dtype must be float32, bfloat16 or float16 but was " + dtype);
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + out + " is a file");
        }
        LlamaConfig c = new LlamaConfig(hidden, intermediate, layers, heads, kvHeads, hidden / heads, 1e-5f, 10000f,
                vocab, context, false, 0, List.of(1)).asFamily(Family.LLAMA, false, RopeScaling.NONE, 0, dtype);
        int e = exitLayer == 0 ? layers / 2 : exitLayer;
        long t0 = System.nanoTime();
        FamilyModels.write(out, c, e, lateScale, seed);
        long params = LlamaWeights.expectedShapes(c).values().stream()
                .mapToLong(s -> java.util.Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
        CliOutput.of(spec).printf(Locale.ROOT, "wrote %s: %d layers, hidden %d, %.1fM parameters (%s, %d MB), layers"
                + " after %d scaled by %s, in %.1f s%n", out, layers, hidden, params / 1e6, dtype,
                Files.size(out.resolve("model.safetensors")) >> 20, e, lateScale, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
