package dev.ppsd.tools.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.decode.TokenLogprob;

import java.util.List;

/** The JSON object {@code ppsd generate} prints for one result (field names are the documented API). */
final class ResultJson {
    private ResultJson() {
    }

    static JsonObject of(GenerationResult r) {
        JsonObject o = new JsonObject();
        o.addProperty("id", r.id());
        o.addProperty("sample_index", r.sampleIndex());
        o.addProperty("mode", r.mode());
        if (!r.ok()) {
            o.addProperty("error", r.error());
            return o;
        }
        o.addProperty("text", r.text());
        o.add("token_ids", ints(r.tokenIds()));
        o.add("prompt_token_ids", ints(r.promptTokenIds()));
        o.addProperty("finish_reason", r.finishReason().wire());
        if (r.stopReason() instanceof Number n) {
            o.addProperty("stop_reason", n);
        } else if (r.stopReason() != null) {
            o.addProperty("stop_reason", r.stopReason().toString());
        } else {
            o.add("stop_reason", com.google.gson.JsonNull.INSTANCE);
        }
        if (r.incomplete() != null) {
            o.addProperty("incomplete", r.incomplete()); // with a guided_* constraint: the text does not satisfy it
        }
        o.addProperty("prompt_tokens", r.promptTokens());
        o.addProperty("new_tokens", r.newTokens());
        o.addProperty("tokens_per_s", Math.round(r.tokensPerSecond() * 100) / 100.0);
        o.addProperty("wall_ms", Math.round(r.wallMs() * 100) / 100.0);
        if (Double.isNaN(r.ttftMs())) {
            o.add("ttft_ms", com.google.gson.JsonNull.INSTANCE);
        } else {
            o.addProperty("ttft_ms", Math.round(r.ttftMs() * 100) / 100.0);
        }
        SpecMetrics s = r.spec();
        o.addProperty("drafts_proposed", s.draftsProposed());
        o.addProperty("drafts_accepted", s.draftsAccepted());
        if (Double.isNaN(s.acceptance())) {
            o.add("acceptance", com.google.gson.JsonNull.INSTANCE);
        } else {
            o.addProperty("acceptance", s.acceptance());
        }
        o.addProperty("cycles", s.cycles());
        o.addProperty("flushes", s.flushes());
        o.add("stage_busy_ms", doubles(s.stageBusyMs()));
        o.add("stage_idle_ms", doubles(s.stageIdleMs()));
        if (r.logprobs() != null) {
            o.add("token_logprobs", logprobs(r.logprobs()));
        }
        if (r.promptLogprobs() != null) {
            o.add("prompt_token_logprobs", logprobs(r.promptLogprobs()));
        }
        return o;
    }

    /** {@code [{"token_id", "token", "logprob", "top_logprobs": [{"token_id", "token", "logprob"}]}]}. */
    private static JsonArray logprobs(List<TokenLogprob> l) {
        JsonArray a = new JsonArray();
        for (TokenLogprob t : l) {
            JsonObject o = alternative(t.token(), t.text(), t.logprob());
            JsonArray top = new JsonArray();
            for (int i = 0; i < t.topTokens().length; i++) {
                top.add(alternative(t.topTokens()[i], t.topTexts()[i], t.topLogprobs()[i]));
            }
            o.add("top_logprobs", top);
            a.add(o);
        }
        return a;
    }

    private static JsonObject alternative(int id, String text, float logprob) {
        JsonObject o = new JsonObject();
        o.addProperty("token_id", id);
        o.addProperty("token", text);
        if (Float.isInfinite(logprob)) {
            o.add("logprob", com.google.gson.JsonNull.INSTANCE); // a token the row's distribution rules out
        } else {
            o.addProperty("logprob", logprob);
        }
        return o;
    }

    private static JsonArray ints(int[] v) {
        JsonArray a = new JsonArray();
        for (int x : v) {
            a.add(x);
        }
        return a;
    }

    private static JsonArray doubles(double[] v) {
        JsonArray a = new JsonArray();
        for (double x : v) {
            a.add(Math.round(x * 100) / 100.0);
        }
        return a;
    }
}
