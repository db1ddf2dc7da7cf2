package dev.ppsd.tools.bench;

import dev.ppsd.engine.settings.Settings;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.schedule.PipelineScheduler;
import dev.ppsd.engine.schedule.PipelineSplit;
import dev.ppsd.engine.schedule.PipelineTrace;

import java.util.List;

/**
 * One traced PPSD run of a single prompt at batch size 1: per cycle, when each stage was busy and what the
 * verifier did after it (drafts proposed, accepted, flushes), for the timeline plot of the bench report.
 *
 * @param label        the bench mode it ran ({@code ppsd}, {@code ppsd:always}, ...)
 * @param split        the layer blocks of the stages; stage 0 also runs the exit head
 * @param promptTokens prompt length in tokens
 * @param result       the generated result
 * @param cycles       the recorded cycles, oldest first; the first {@code k} carry the prompt prefill
 */
public record PpsdTimeline(String label, PipelineSplit split, int promptTokens, GenerationResult result,
        List<PipelineTrace.Cycle> cycles) {

    public PpsdTimeline {
        cycles = List.copyOf(cycles);
    }

    /**
     * Runs {@code spec} (a ppsd mode) on {@code request} at batch size 1, after an untraced warm-up of the same
     * prompt, recording at most {@code maxCycles} cycles.
     */
    public static PpsdTimeline record(EngineOptions base, String spec, GenerationRequest request, int maxCycles) {
        EngineOptions o = Benchmark.optionsFor(base.with(Settings.BATCH_SIZE, 1), spec);
        if (!o.get(Settings.MODE).equals("ppsd")) {
            throw new IllegalArgumentException("the timeline needs a ppsd mode but got " + spec);
        }
        try (GenerationEngine engine = GenerationEngine.open(o)) {
            PipelineScheduler pipeline = (PipelineScheduler) engine.scheduler();
            // warm-up: JIT-compile the cycle loop so the traced cycles show steady-state timing
            engine.generate(List.of(request.with(request.params().with(Settings.MAX_NEW_TOKENS,
                    Math.min(8, request.params().get(Settings.MAX_NEW_TOKENS))))));
            PipelineTrace trace = pipeline.trace(maxCycles);
            GenerationResult r = engine.generate(List.of(request)).get(0);
            if (!r.ok()) {
                throw new IllegalArgumentException("request " + r.id() + " failed: " + r.error());
            }
            return new PpsdTimeline(spec, pipeline.split(), r.promptTokens(), r, trace.cycles());
        }
    }

    public int stages() {
        return split.stages();
    }

    /** Index of the first decode cycle: cycles before it still carry the prompt (prefill) through some stage. */
    public int firstDecodeCycle() {
        return cycles.size() > stages() ? stages() : 0;
    }

    /** Sum of drafts accepted / proposed over the recorded cycles (NaN when none were proposed). */
    public double acceptance() {
        int drafted = 0;
        int accepted = 0;
        for (PipelineTrace.Cycle c : cycles) {
            drafted += c.drafted();
            accepted += c.accepted();
        }
        return drafted == 0 ? Double.NaN : (double) accepted / drafted;
    }

    /** The trace as JSON: stage layer blocks and per cycle its times (ms), entries per stage and verdicts. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("mode", label);
        o.addProperty("prompt_tokens", promptTokens);
        o.addProperty("new_tokens", result.newTokens());
        JsonArray blocks = new JsonArray();
        for (int b = 0; b < stages(); b++) {
            JsonArray block = new JsonArray();
            block.add(split.from(b));
            block.add(split.to(b));
            blocks.add(block);
        }
        o.add("stage_layers", blocks);
        JsonArray cs = new JsonArray();
        for (PipelineTrace.Cycle c : cycles) {
            JsonObject j = new JsonObject();
            j.addProperty("start_ms", c.startMs());
            j.addProperty("end_ms", c.endMs());
            JsonArray s0 = new JsonArray();
            JsonArray s1 = new JsonArray();
            JsonArray n = new JsonArray();
            for (int b = 0; b < c.entries().length; b++) {
                // an idle stage has no interval: null rather than NaN keeps the file plain JSON
                s0.add(Double.isNaN(c.stageStartMs()[b]) ? null : c.stageStartMs()[b]);
                s1.add(Double.isNaN(c.stageEndMs()[b]) ? null : c.stageEndMs()[b]);
                n.add(c.entries()[b]);
            }
            j.add("stage_start_ms", s0);
            j.add("stage_end_ms", s1);
            j.add("entries", n);
            j.addProperty("drafted", c.drafted());
            j.addProperty("accepted", c.accepted());
            j.addProperty("flushed", c.flushed());
            cs.add(j);
        }
        o.add("cycles", cs);
        return o;
    }
}
