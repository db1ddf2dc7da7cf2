package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Stage device names: both GPU spellings count as GPUs (dtype auto follows them); bad names fail in one line. */
class StageDevicesTest {
    @Test
    void bothGpuSpellingsAreGpus() {
        assertFalse(StageDevices.anyGpu(List.of("cpu", " CPU ")));
        assertTrue(StageDevices.anyGpu(List.of("cpu", "cuda:1")));
        assertTrue(StageDevices.anyGpu(List.of(" GPU0 ")));
    }

    @Test
    void namesParseOrFailNamingTheStage() {
        DjlRuntime.init();
        assertEquals(List.of(Device.cpu(), Device.cpu()), StageDevices.parse(List.of("cpu", " CPU ")));
        assertEquals("unknown device 'tpu0' for stage 0 (use cpu, gpuN or cuda:N)",
                assertThrows(IllegalArgumentException.class, () -> StageDevices.parse(List.of("tpu0"))).getMessage());
        String msg = assertThrows(IllegalArgumentException.class,
                () -> StageDevices.parse(List.of("cpu", "cuda:99"))).getMessage();
        assertTrue(msg.startsWith("stage 1 asks for cuda:99 but this machine has "), msg);
    }
}
