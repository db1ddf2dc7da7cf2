package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.settings.EngineOptions;
import org.apache.spark.TaskContext;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;

/**
 * The small serializable stand-in for an executor's engine that travels with Spark tasks: it holds only the
 * engine settings, never weights. On an executor, {@link #lease} resolves them to {@link EngineOptions} (model
 * folder made local by {@link ModelPaths}, stage devices from the task's resources by {@link StageDevices}) and
 * returns the JVM's shared engine for those options from {@link EngineCache}, building it on first use.
 *
 * @param model     model folder: local path, Hadoop URI, or the name of a file shipped with addFile
 * @param exitHead  {@code auto}, {@code shared}, or a folder in the same forms as {@code model}
 * @param mode      decoding mode ({@code ar}, {@code ar-pipe}, {@code eesd}, {@code ppsd})
 * @param batchSize sequences decoded together (and rows per Arrow batch)
 * @param exitLayer exit layer of the drafter, 0 for the default
 * @param stages    {@code auto} or a comma-separated device list
 * @param numStages number of stages when {@code stages} is {@code auto}
 * @param gamma     EESD draft length, or {@code ts}
 * @param speculation for ppsd: {@code auto} or {@code always}
 */
public record EngineHandle(String model, String exitHead, String mode, int batchSize, int exitLayer, String stages,
        int numStages, String gamma, String speculation) implements Serializable {

    /** Checks on the driver, before any data moves, that these settings make valid engine options. */
    public void validate() {
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("model is not set: call setModel(path) or set --conf "
                    + PpsdConf.PREFIX + PpsdConf.MODEL + "=PATH");
        }
        build(Path.of("."), stageList(null), exitHead);
    }

    /** The engine options of this handle for the task {@code ctx} (null outside a task), paths made local. */
    public EngineOptions options(TaskContext ctx) {
        String head = exitHead.equals("auto") || exitHead.equals("shared")
                ? exitHead : ModelPaths.localize(exitHead).toString();
        return build(ModelPaths.localize(model), stageList(ctx), head);
    }

    /** Starts from the engine's defaults so options the engine adds later keep their default here. */
    private EngineOptions build(Path dir, List<String> devices, String head) {
        return EngineOptions.of(dir).with(Settings.MODE, mode).with(Settings.BATCH_SIZE, batchSize).with(Settings.EXIT_LAYER, exitLayer)
                .with(Settings.STAGES, String.join(",", devices)).with(Settings.GAMMA, gamma).with(Settings.EXIT_HEAD, head).with(Settings.SPECULATION, speculation);
    }

    /** Leases the executor's shared engine for these settings (built on first use); close the lease when done. */
    public SharedEngine.Lease lease(TaskContext ctx) {
        return EngineCache.lease(options(ctx));
    }

    /** The same handle with another decoding mode. */
    public EngineHandle withMode(String m) {
        return new EngineHandle(model, exitHead, m, batchSize, exitLayer, stages, numStages, gamma, speculation);
    }

    /** The same handle with another exit layer. */
    public EngineHandle withExitLayer(int e) {
        return new EngineHandle(model, exitHead, mode, batchSize, e, stages, numStages, gamma, speculation);
    }

    private List<String> stageList(TaskContext ctx) {
        return stages.trim().equals(PpsdConf.AUTO_STAGES)
                ? StageDevices.forTask(ctx, numStages) : PpsdConf.stageList(stages, numStages);
    }
}
