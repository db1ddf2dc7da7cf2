package dev.ppsd.engine.schedule;

import ai.djl.Device;
import dev.ppsd.engine.EngineOptions;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds the scheduler an {@link EngineOptions} asks for. Pipelines (ppsd, ar-pipe) take their drafter and
 * stage split from {@link DrafterPlan}; eesd resolves the exit head by the default rule ({@code auto}: the
 * model folder's {@code exit_head/} when present, else the shared LM head; exit layer: the trained head's,
 * else N/2). Every bad option fails here, before any work starts.
 */
public final class SchedulerFactory {
    private SchedulerFactory() {
    }

    public static Scheduler create(LlamaModel model, EngineOptions o) {
        if (o.mode().equals("ar")) {
            return new ArScheduler(model, o.batchSize());
        }
        List<Device> devices = StageDevices.parse(o.stages());
        if (o.mode().equals("eesd")) {
            return new EesdScheduler(model, exitHead(model, o), o.gamma());
        }
        DrafterPlan plan = DrafterPlan.choose(model, o, devices.size());
        return new PipelineScheduler(model, plan, devices, o.mode().equals("ppsd"),
                o.speculation().equals("auto"), o.batchSize());
    }

    /** The drafter the options ask for. */
    public static ExitHead exitHead(LlamaModel model, EngineOptions o) {
        int n = model.config().numHiddenLayers();
        String h = o.exitHead();
        Path dir = null;
        if (h.equals("auto")) {
            Path candidate = model.dir() == null ? null : model.dir().resolve("exit_head");
            // an explicit other exit layer than the trained head's: the shared head there (the trained one is
            // not loaded, so its weights take no memory)
            if (candidate != null && Files.isDirectory(candidate)
                    && (o.exitLayer() == 0 || o.exitLayer() == ExitHead.exitLayerOf(candidate))) {
                return ExitHead.load(candidate, model, model.manager());
            }
        } else if (!h.equals("shared")) {
            dir = Path.of(h);
            ExitHead trained = ExitHead.load(dir, model, model.manager());
            if (o.exitLayer() != 0 && o.exitLayer() != trained.exitLayer()) {
                throw new IllegalArgumentException("exitLayer " + o.exitLayer() + " does not match the exit head in "
                        + dir + " (trained for layer " + trained.exitLayer() + ")");
            }
            return trained;
        }
        int e = o.exitLayer() == 0 ? n / 2 : o.exitLayer();
        ExitHead.checkExitLayer(model.config(), e);
        return ExitHead.shared(model, e);
    }
}
