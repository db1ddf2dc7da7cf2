package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Scope;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How a {@code GenerationEngine} is built: the values of the {@link Scope#ENGINE} settings of {@link Settings}
 * (model, mode, batch size, stages, drafter, ...), read with {@code options.get(Settings.MODE)}.
 *
 * <pre>{@code
 * EngineOptions o = EngineOptions.of(Path.of("models/ppsd-mini")).with(Settings.MODE, "ppsd");
 * }</pre>
 */
public final class EngineOptions extends SettingValues<EngineOptions> {
    private static final long serialVersionUID = 1L;

    private EngineOptions(Map<String, Object> values) {
        super(values);
    }

    /** The defaults, with the model folder {@code model}. */
    public static EngineOptions of(Path model) {
        return new EngineOptions(Map.of()).with(Settings.MODEL, model.toString());
    }

    /** The defaults, without a model (a front end fills it in). */
    public static EngineOptions defaults() {
        return new EngineOptions(Map.of());
    }

    @Override
    protected Scope scope() {
        return Scope.ENGINE;
    }

    @Override
    protected EngineOptions make(Map<String, Object> values) {
        return new EngineOptions(values);
    }

    /** The model folder; fails naming the setting when none was given. */
    public Path modelDir() {
        String m = get(Settings.MODEL);
        if (m == null) {
            throw new IllegalArgumentException("model is not set (" + Settings.MODEL.flag() + " DIR, or "
                    + Settings.MODEL.confKey() + ")");
        }
        return Path.of(m);
    }

    /**
     * The device of each pipeline stage: the {@code stages} list, or for {@code auto} {@code num_stages} stages on
     * the GPUs {@code gpus} (CUDA indices; stage i on the (i mod n)-th), or on the CPU when there are none.
     */
    public List<String> stageDevices(List<Integer> gpus) {
        String stages = get(Settings.STAGES).trim();
        List<String> out = new ArrayList<>();
        if (stages.equals("auto")) {
            int k = get(Settings.NUM_STAGES);
            for (int i = 0; i < k; i++) {
                out.add(gpus.isEmpty() ? "cpu" : "gpu" + gpus.get(i % gpus.size()));
            }
        } else {
            for (String d : stages.split(",")) {
                out.add(d.trim());
            }
        }
        return out;
    }
}
