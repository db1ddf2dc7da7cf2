package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.engine.Engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Parses the device of each pipeline stage: {@code cpu}, or {@code gpuN} / {@code cuda:N} for GPU N. A GPU
 * that this machine does not have is an error before any work starts.
 */
public final class StageDevices {
    private StageDevices() {
    }

    /** The CUDA indices of the GPUs this process may use (none on a machine without GPUs). */
    public static List<Integer> visibleGpus() {
        return java.util.stream.IntStream.range(0, Engine.getInstance().getGpuCount()).boxed().toList();
    }

    /** Whether any of the stage device names is a GPU ({@code gpuN} or {@code cuda:N}), without checking it. */
    public static boolean anyGpu(List<String> names) {
        return names.stream().anyMatch(n -> gpuNumber(normalized(n)) != null);
    }

    /** A stage device name as it is matched: trimmed, lower case. */
    private static String normalized(String name) {
        return name.trim().toLowerCase(Locale.ROOT);
    }

    /** The number of a GPU name ({@code gpuN} or {@code cuda:N}, normalized; possibly not a number), else null. */
    private static String gpuNumber(String name) {
        return name.startsWith("gpu") ? name.substring(3) : name.startsWith("cuda:") ? name.substring(5) : null;
    }

    public static List<Device> parse(List<String> names) {
        List<Device> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            out.add(parse(normalized(names.get(i)), i));
        }
        return out;
    }

    private static Device parse(String name, int stage) {
        if (name.equals("cpu")) {
            return Device.cpu();
        }
        String num = gpuNumber(name);
        if (num == null || num.isEmpty() || !num.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("unknown device '" + name + "' for stage " + stage
                    + " (use cpu, gpuN or cuda:N)");
        }
        int id = Integer.parseInt(num);
        int gpus = Engine.getInstance().getGpuCount();
        if (id >= gpus) {
            throw new IllegalArgumentException("stage " + stage + " asks for " + name + " but this machine has "
                    + gpus + " GPU" + (gpus == 1 ? "" : "s"));
        }
        return Device.gpu(id);
    }
}
