package dev.ppsd.udf;

import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Maps the k pipeline stages of a task's engine to devices. When Spark gave the task GPUs
 * ({@code spark.task.resource.gpu.amount}), stage i runs on the i-th GPU address the task holds
 * ({@code "gpu" + address}, e.g. {@code [gpu0, gpu1]}); with more stages than GPUs the stages wrap around
 * (stage i on GPU i mod n). Without GPUs every stage runs on the CPU ({@code [cpu, cpu]}).
 */
public final class StageDevices {
    /** The Spark resource name of GPUs. */
    public static final String GPU = "gpu";

    private StageDevices() {
    }

    /** Stage devices for the current task; {@code ctx} may be null (no task, e.g. on the driver): CPU stages. */
    public static List<String> forTask(TaskContext ctx, int k) {
        return forResources(ctx == null ? Map.of() : ctx.resourcesJMap(), k);
    }

    /** The pure mapping behind {@link #forTask}: {@code resources} is what {@code TaskContext.resources()} holds. */
    public static List<String> forResources(Map<String, ResourceInformation> resources, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("numStages must be >= 1 but was " + k);
        }
        ResourceInformation gpus = resources == null ? null : resources.get(GPU);
        String[] addresses = gpus == null ? new String[0] : gpus.addresses();
        List<String> stages = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            stages.add(addresses.length == 0 ? "cpu" : GPU + addresses[i % addresses.length]);
        }
        return List.copyOf(stages);
    }
}
