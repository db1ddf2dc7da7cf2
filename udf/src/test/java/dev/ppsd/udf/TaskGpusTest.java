package dev.ppsd.udf;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** stages=auto on an executor: stage i on the task's i-th GPU, wrapping around, else on the CPU. */
class TaskGpusTest {
    private static Map<String, ResourceInformation> gpus(String... addresses) {
        return Map.of("gpu", new ResourceInformation("gpu", addresses));
    }

    private static List<String> stages(Map<String, ResourceInformation> resources, int k) {
        return EngineOptions.defaults().with(Settings.NUM_STAGES, k).stageDevices(TaskGpus.of(resources));
    }

    @Test
    void withoutGpusEveryStageRunsOnTheCpu() {
        assertEquals(List.of("cpu", "cpu"), stages(Map.of(), 2));
        assertEquals(List.of(), TaskGpus.of((org.apache.spark.TaskContext) null));
    }

    @Test
    void stageIIsPinnedToTheIthGpuAddressOfTheTask() {
        assertEquals(List.of("gpu0", "gpu1"), stages(gpus("0", "1"), 2));
        assertEquals(List.of("gpu3", "gpu1"), stages(gpus("3", "1"), 2));
    }

    @Test
    void moreStagesThanGpusWrapAround() {
        assertEquals(List.of("gpu2", "gpu5", "gpu2"), stages(gpus("2", "5"), 3));
    }

    @Test
    void otherResourcesAreIgnored() {
        assertEquals(List.of("cpu", "cpu"), stages(Map.of("fpga", new ResourceInformation("fpga", new String[] {"0"})), 2));
    }

    @Test
    void anAddressThatIsNoDeviceIndexIsNamed() {
        String m = assertThrows(IllegalArgumentException.class, () -> TaskGpus.of(gpus("GPU-3f2a"))).getMessage();
        assertEquals("GPU address 'GPU-3f2a' of this task is not a CUDA device index; use a discovery script that"
                + " reports the indices the executor sees", m);
    }

    @Test
    void zeroStagesIsRejected() {
        assertEquals("num_stages must be >= 1 but was 0", assertThrows(IllegalArgumentException.class,
                () -> EngineOptions.defaults().with(Settings.NUM_STAGES, 0)).getMessage());
    }
}
