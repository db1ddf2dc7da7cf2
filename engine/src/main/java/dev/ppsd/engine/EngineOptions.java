package dev.ppsd.engine;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * How a {@link GenerationEngine} is built. All defaults live in {@link #defaults(Path)}.
 *
 * @param modelDir  model folder in the Hugging Face layout
 * @param mode      {@code ar} (plain autoregressive), {@code ar-pipe} (AR on the k-stage pipeline with
 *                  micro-batches), {@code eesd} (early-exit draft-then-verify) or {@code ppsd}
 * @param batchSize sequences decoded together
 * @param exitLayer exit layer E of the drafter; 0 means the default N/2 (or the trained head's layer)
 * @param stages    one device per pipeline stage, e.g. {@code [cpu, cpu]} or {@code [gpu0, gpu1]}
 * @param gamma     EESD draft length: a number, or {@code ts} for Thompson sampling
 * @param exitHead  {@code auto} (for pipelines: the cheapest drafter by {@code DrafterPlan}; for eesd: the model
 *                  folder's {@code exit_head/} if present, else shared), {@code shared}, or a folder holding a
 *                  trained head
 * @param speculation for ppsd: {@code auto} (default: draft only while drafting measures cheaper per token than
 *                    pipelined or batched AR on the same stages; sampled sequences always draft) or {@code always}
 */
public record EngineOptions(Path modelDir, String mode, int batchSize, int exitLayer, List<String> stages,
        String gamma, String exitHead, String speculation) {
    public static final Set<String> MODES = Set.of("ar", "ar-pipe", "eesd", "ppsd");
    public static final String DEFAULT_MODE = "ar";
    public static final int DEFAULT_BATCH_SIZE = 8;
    public static final List<String> DEFAULT_STAGES = List.of("cpu", "cpu");
    public static final String DEFAULT_GAMMA = "ts";
    public static final String DEFAULT_EXIT_HEAD = "auto";
    public static final String DEFAULT_SPECULATION = "auto";

    public EngineOptions {
        if (modelDir == null) {
            throw new IllegalArgumentException("model folder must be set (--model DIR)");
        }
        if (mode == null || !MODES.contains(mode)) {
            throw new IllegalArgumentException("mode must be one of [ar, ar-pipe, eesd, ppsd] but was " + mode);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1 but was " + batchSize);
        }
        if (exitLayer < 0) {
            throw new IllegalArgumentException("exitLayer must be >= 1 (or 0 for the default) but was " + exitLayer);
        }
        stages = List.copyOf(stages);
        if (stages.isEmpty()) {
            throw new IllegalArgumentException("stages must name at least one device, e.g. cpu,cpu");
        }
        if (!gamma.equals("ts")) {
            try {
                if (Integer.parseInt(gamma) < 1) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("gamma must be a positive integer or 'ts' but was " + gamma);
            }
        }
        if (exitHead == null || exitHead.isBlank()) {
            throw new IllegalArgumentException("exitHead must be auto, shared or a folder");
        }
        if (!"auto".equals(speculation) && !"always".equals(speculation)) {
            throw new IllegalArgumentException("speculation must be auto or always but was " + speculation);
        }
    }

    public static EngineOptions defaults(Path modelDir) {
        return new EngineOptions(modelDir, DEFAULT_MODE, DEFAULT_BATCH_SIZE, 0, DEFAULT_STAGES, DEFAULT_GAMMA,
                DEFAULT_EXIT_HEAD, DEFAULT_SPECULATION);
    }

    public EngineOptions withMode(String m) {
        return new EngineOptions(modelDir, m, batchSize, exitLayer, stages, gamma, exitHead, speculation);
    }

    public EngineOptions withBatchSize(int b) {
        return new EngineOptions(modelDir, mode, b, exitLayer, stages, gamma, exitHead, speculation);
    }

    public EngineOptions withExitLayer(int e) {
        return new EngineOptions(modelDir, mode, batchSize, e, stages, gamma, exitHead, speculation);
    }

    public EngineOptions withStages(List<String> s) {
        return new EngineOptions(modelDir, mode, batchSize, exitLayer, s, gamma, exitHead, speculation);
    }

    public EngineOptions withGamma(String g) {
        return new EngineOptions(modelDir, mode, batchSize, exitLayer, stages, g, exitHead, speculation);
    }

    public EngineOptions withSpeculation(String sp) {
        return new EngineOptions(modelDir, mode, batchSize, exitLayer, stages, gamma, exitHead, sp);
    }

    public EngineOptions withExitHead(String h) {
        return new EngineOptions(modelDir, mode, batchSize, exitLayer, stages, gamma, h, speculation);
    }
}
