package dev.ppsd.engine.schedule;

import ai.djl.Device;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.model.LlamaModel;

import java.util.List;

/**
 * Builds the scheduler an {@link EngineOptions} asks for. Pipelines (ppsd, spd, ar-pipe) take their drafter and
 * stage split from {@link DrafterPlan} (spd: the model folder's SPD head); eesd resolves the exit head by the
 * default rule ({@code auto}: the model folder's {@code exit_head/} when present, else the shared LM head; exit
 * layer: the trained head's, else N/2). Every bad option fails here, before any work starts.
 */
public final class SchedulerFactory {
    private SchedulerFactory() {
    }

    public static Scheduler create(LlamaModel model, EngineOptions o) {
        String mode = o.get(Settings.MODE);
        if (mode.equals("ar")) {
            return new ArScheduler(model, o);
        }
        List<Device> devices = StageDevices.parse(o.stageDevices(StageDevices.visibleGpus()));
        if (mode.equals("eesd")) {
            return new EesdScheduler(model, DrafterPlan.defaultHead(model, o), o);
        }
        if (mode.equals("spd")) {
            return new PipelineScheduler(model, DrafterPlan.chooseSpd(model, devices.size()), devices, true, o);
        }
        DrafterPlan plan = DrafterPlan.choose(model, o, devices.size());
        return new PipelineScheduler(model, plan, devices, mode.equals("ppsd"), o);
    }
}
