package dev.ppsd.udf;

import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The GPUs Spark gave a task ({@code spark.task.resource.gpu.amount}): their CUDA indices, from the task's
 * {@code gpu} resource addresses. With {@code stages=auto} the engine puts stage i on the i-th of them (wrapping
 * around when there are more stages than GPUs), and on the CPU when the task holds none
 * ({@code EngineOptions.stageDevices}).
 */
public final class TaskGpus {
    /** The Spark resource name of GPUs. */
    public static final String GPU = "gpu";

    private TaskGpus() {
    }

    /** The GPU indices of the current task; none for a null {@code ctx} (no task, e.g. on the driver). */
    public static List<Integer> of(TaskContext ctx) {
        return of(ctx == null ? Map.of() : ctx.resourcesJMap());
    }

    /** The pure mapping behind {@link #of(TaskContext)}: {@code resources} is what {@code TaskContext.resources()} holds. */
    public static List<Integer> of(Map<String, ResourceInformation> resources) {
        ResourceInformation gpus = resources == null ? null : resources.get(GPU);
        List<Integer> out = new ArrayList<>();
        for (String a : gpus == null ? new String[0] : gpus.addresses()) {
            try {
                out.add(Integer.parseInt(a.trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("GPU address '" + a + "' of this task is not a CUDA device index;"
                        + " use a discovery script that reports the indices the executor sees");
            }
        }
        return List.copyOf(out);
    }
}
