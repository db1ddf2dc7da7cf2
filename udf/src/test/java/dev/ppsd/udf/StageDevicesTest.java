package dev.ppsd.udf;

import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StageDevicesTest {
    private static Map<String, ResourceInformation> gpus(String... addresses) {
        return Map.of("gpu", new ResourceInformation("gpu", addresses));
    }

    @Test
    void withoutGpusEveryStageRunsOnTheCpu() {
        assertEquals(List.of("cpu", "cpu"), StageDevices.forResources(Map.of(), 2));
        assertEquals(List.of("cpu", "cpu", "cpu"), StageDevices.forTask(null, 3));
    }

    @Test
    void stageIIsPinnedToTheIthGpuAddressOfTheTask() {
        assertEquals(List.of("gpu0", "gpu1"), StageDevices.forResources(gpus("0", "1"), 2));
        assertEquals(List.of("gpu3", "gpu1"), StageDevices.forResources(gpus("3", "1"), 2));
    }

    @Test
    void moreStagesThanGpusWrapAround() {
        assertEquals(List.of("gpu2", "gpu5", "gpu2"), StageDevices.forResources(gpus("2", "5"), 3));
    }

    @Test
    void otherResourcesAreIgnored() {
        assertEquals(List.of("cpu", "cpu"),
                StageDevices.forResources(Map.of("fpga", new ResourceInformation("fpga", new String[] {"0"})), 2));
    }

    @Test
    void zeroStagesIsRejected() {
        assertEquals("numStages must be >= 1 but was 0",
                assertThrows(IllegalArgumentException.class, () -> StageDevices.forResources(Map.of(), 0))
                        .getMessage());
    }
}
