package dev.ppsd.tools.train;

import static dev.ppsd.tools.cli.CliHarness.csvRows;
import static dev.ppsd.tools.cli.CliHarness.csvSteps;
import static dev.ppsd.tools.cli.CliHarness.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDScope;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.tools.cli.CliHarness;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.checkpoint.Safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ppsd distill-exit-head} and {@code ppsd distill-spd-head} on a tiny model trained for a few steps: the head
 * folder's layout, loading it ({@link ExitHead#load}, {@link SpdHead#load}), the KL going down (held-out too),
 * {@code ppsd eval} reporting α for it, and {@code generate} picking it up by default ({@code MODEL/exit_head} for
 * ppsd and eesd, {@code MODEL/spd_head} for spd) with output identical to plain AR.
 */
class DistillerTest {
    @TempDir
    static Path dir;

    static Path corpus;
    static Path heldOut;
    static Path model;

    @BeforeAll
    static void trainBaseModel() throws IOException {
        corpus = CliHarness.writeCorpus(dir.resolve("train.txt"), 300, 21);
        heldOut = CliHarness.writeCorpus(dir.resolve("heldout.txt"), 60, 22);
        Path tok = dir.resolve("tokenizer.json");
        run("train-tokenizer", "--corpus", corpus.toString(), "--vocab", "300", "--out", tok.toString()).ok();
        model = dir.resolve("model");
        // three layers: the head at E=1 starts as a copy of layer 1 and has to make up for layer 2 as well
        List<String> args = CliHarness.tinyTrainArgs(corpus, tok, model, 60);
        args.set(args.indexOf("--layers") + 1, "3");
        args.addAll(List.of("--lr", "1e-2", "--min-lr", "1e-3"));
        run(args.toArray(String[]::new)).ok();
    }

    @Test
    void distilledHeadLoadsEvaluatesAndDrafts() throws IOException {
        Path head = model.resolve("exit_head");
        CliHarness.Run d = run("distill-exit-head", "--model", model.toString(), "--corpus", corpus.toString(),
                "--exit-layer", "1", "--steps", "30", "--batch", "4", "--seq-len", "16", "--lr", "3e-3",
                "--warmup", "2", "--checkpoint-every", "10").ok();
        assertTrue(d.out().contains("distilling an exit head at layer 1 of 3"), d.out());
        assertTrue(d.out().contains("wrote " + head + " (step 30"), d.out());

        // layout: config.json (one layer + exit_layer) and model.safetensors; the checkpoint is gone
        JsonObject cfg = JsonParser.parseString(Files.readString(head.resolve("config.json"))).getAsJsonObject();
        assertEquals(1, cfg.get("exit_layer").getAsInt());
        assertEquals(1, cfg.get("num_hidden_layers").getAsInt());
        assertEquals(3, cfg.get("base_num_hidden_layers").getAsInt());
        assertEquals(32, cfg.get("hidden_size").getAsInt());
        assertFalse(Files.exists(head.resolve("checkpoint")), "checkpoint is removed when distillation ends");
        try (Safetensors.Reader r = Safetensors.open(head.resolve("model.safetensors"))) {
            assertTrue(r.tensors().containsKey(ExitHead.EXIT_NORM), r.tensors().keySet().toString());
            assertTrue(r.tensors().containsKey("model.norm.weight"));
            assertTrue(r.tensors().containsKey("model.layers.0.self_attn.q_proj.weight"),
                    r.tensors().keySet().toString());
            assertFalse(r.tensors().containsKey("lm_head.weight"), "the LM head is shared, not stored");
        }

        // the KL to the full model goes down
        List<String[]> rows = csvRows(head.resolve("train-log.csv"));
        assertEquals(List.of(10, 20, 30), rows.stream().map(r -> Integer.parseInt(r[0])).toList());
        float kl10 = Float.parseFloat(rows.get(0)[1]);
        float kl30 = Float.parseFloat(rows.get(2)[1]);
        assertTrue(kl30 < kl10, "KL should decrease: step 10 " + kl10 + ", step 30 " + kl30);
        for (String[] r : rows) {
            float agree = Float.parseFloat(r[2]);
            assertTrue(agree >= 0 && agree <= 1, "top-1 agreement " + agree);
        }

        try (LlamaModel m = LlamaModel.load(model)) {
            ExitHead h = ExitHead.load(head, m, m.manager());
            assertEquals(1, h.exitLayer());
            assertTrue(h.trained());
            assertEquals(32, h.named().get(ExitHead.EXIT_NORM).getShape().get(0));
            // and, measured precisely on the same held-out windows, the distilled head is closer to the model
            // than the head distillation started from
            int[][] in = Losses.split(TokenStream.load(List.of(heldOut), model, m.config()).windows(16, 8))[0];
            try (NDScope ignored = new NDScope()) {
                float before = Distiller.loss(m, ExitHead.initTrained(m, 1, m.manager()), m.manager(), in)[1]
                        .getFloat();
                float after = Distiller.loss(m, h, m.manager(), in)[1].getFloat();
                assertTrue(after < 0.5f * before, "held-out KL before " + before + ", after " + after);
            }
        }

        // eval: perplexity and alpha of the shared head and of the trained head at layer 1
        Path json = dir.resolve("eval.json");
        CliHarness.Run e = run("eval", "--model", model.toString(), "--heldout", heldOut.toString(), "--train",
                corpus.toString(), "--exit-head", head.toString(), "--seq-len", "16", "--windows", "8", "--json",
                json.toString()).ok();
        assertTrue(e.out().contains("heldout.txt: 128 tokens"), e.out());
        assertTrue(e.out().contains("ppl "), e.out());
        assertTrue(e.out().contains("alpha trained heads by exit layer: {\"1\":"), e.out());
        JsonObject r = JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonObject("heldout.txt");
        double ppl = r.get("perplexity").getAsDouble();
        assertTrue(ppl > 1 && ppl < 300, "perplexity " + ppl);
        assertTrue(r.get("unigram_perplexity").getAsDouble() > 1);
        double alphaTrained = r.getAsJsonObject("alpha_trained_head").get("1").getAsDouble();
        double alphaShared = r.getAsJsonObject("alpha_shared_head").get("1").getAsDouble();
        assertTrue(alphaTrained >= 0 && alphaTrained <= 1, "alpha " + alphaTrained);
        assertTrue(alphaShared >= 0 && alphaShared <= 1, "alpha " + alphaShared);

        // generate: ppsd and eesd pick up MODEL/exit_head (auto) and stay token-identical to ar
        JsonArray ar = generate("ar");
        assertEquals(ar, generate("ppsd"));
        assertEquals(ar, generate("eesd"));

        // a second distillation into the same folder starts a new loss log
        run("distill-exit-head", "--model", model.toString(), "--corpus", corpus.toString(), "--exit-layer", "1",
                "--steps", "10", "--batch", "2", "--seq-len", "8").ok();
        assertEquals(List.of(10), csvSteps(head.resolve("train-log.csv")));
    }

    @Test
    void distilledSpdHeadLoadsEvaluatesAndDrafts() throws IOException {
        Path head = model.resolve(SpdHead.DIR);
        CliHarness.Run d = run("distill-spd-head", "--model", model.toString(), "--corpus", corpus.toString(),
                "--steps", "30", "--batch", "4", "--seq-len", "16", "--lr", "3e-3", "--warmup", "2",
                "--checkpoint-every", "10", "--temperature", "2").ok();
        assertTrue(d.out().contains("distilling an SPD head for stages [0, "), d.out());
        assertTrue(d.out().contains("temperature 2.00"), d.out());
        assertTrue(d.out().contains("wrote " + head + " (step 30"), d.out());

        // layout: config.json (the head's layer + anchors and split) and model.safetensors; the checkpoint is gone
        JsonObject cfg = JsonParser.parseString(Files.readString(head.resolve("config.json"))).getAsJsonObject();
        assertEquals(1, cfg.get("num_hidden_layers").getAsInt());
        assertEquals(3, cfg.get("base_num_hidden_layers").getAsInt());
        assertEquals(0, cfg.getAsJsonArray("spd_anchor_layers").get(0).getAsInt());
        assertEquals(3, cfg.getAsJsonArray("spd_stage_bounds").size(), "2 stages: [0, E, 3]");
        assertFalse(Files.exists(head.resolve("checkpoint")), "checkpoint is removed when distillation ends");
        try (Safetensors.Reader r = Safetensors.open(head.resolve("model.safetensors"))) {
            assertTrue(r.tensors().containsKey("model.spd_projections.0.weight"), r.tensors().keySet().toString());
            assertTrue(r.tensors().containsKey("model.layers.0.mlp.down_proj.weight"));
            assertFalse(r.tensors().containsKey("lm_head.weight"), "the LM head is shared, not stored");
        }
        List<String[]> rows = csvRows(head.resolve("train-log.csv"));
        assertEquals(List.of(10, 20, 30), rows.stream().map(r -> Integer.parseInt(r[0])).toList());
        assertTrue(Float.parseFloat(rows.get(2)[1]) < Float.parseFloat(rows.get(0)[1]), "KL should decrease");

        // on held-out windows, with a full pipeline and right after a flush, the trained head is closer to the
        // model than the one distillation started from
        try (LlamaModel m = LlamaModel.load(model); NDScope ignored = new NDScope()) {
            SpdHead h = SpdHead.load(head, m, m.manager());
            SpdHead init = SpdHead.init(m, h.anchors(), h.stageBounds(), 1, m.config().intermediateSize(),
                    m.manager());
            int[][] in = Losses.split(TokenStream.load(List.of(heldOut), model, m.config()).windows(16, 8))[0];
            for (int fill : new int[] {1, 2}) {
                int[] f = new int[in.length];
                java.util.Arrays.fill(f, fill);
                float before = Distiller.spdLoss(m, init, m.manager(), in, f, 1f)[1].getFloat();
                float after = Distiller.spdLoss(m, h, m.manager(), in, f, 1f)[1].getFloat();
                assertTrue(after < 0.7f * before, fill + " in flight: held-out KL before " + before + ", after "
                        + after);
            }
        }

        // eval: the SPD head's alpha as in a full pipeline and right after a flush
        Path json = dir.resolve("eval-spd.json");
        CliHarness.Run e = run("eval", "--model", model.toString(), "--heldout", heldOut.toString(), "--spd-head",
                head.toString(), "--seq-len", "16", "--windows", "8", "--json", json.toString()).ok();
        assertTrue(e.out().contains("alpha SPD head, 2 stages: "), e.out());
        JsonObject r = JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonObject("heldout.txt");
        for (String key : List.of("alpha_spd_head", "alpha_spd_head_after_flush")) {
            double a = r.getAsJsonObject(key).get("2").getAsDouble();
            assertTrue(a > 0 && a <= 1, key + " " + a);
        }

        // generate --mode spd drafts with MODEL/spd_head and is token-identical to ar
        JsonArray ar = generate("ar");
        assertEquals(ar, generate("spd"));
    }

    private static JsonArray generate(String mode) {
        CliHarness.Run g = run("generate", "--model", model.toString(), "--prompt", "And the king said unto",
                "--max-new-tokens", "12", "--mode", mode, "--speculation", "always").ok();
        JsonObject o = JsonParser.parseString(g.out().trim()).getAsJsonObject();
        assertEquals(mode, o.get("mode").getAsString());
        if (!mode.equals("ar")) {
            assertTrue(o.get("drafts_proposed").getAsInt() > 0, "the " + mode + " run drafted nothing: " + o);
        }
        return o.getAsJsonArray("token_ids");
    }

    @Test
    void headForAnotherModelIsRejected() throws IOException {
        Path other = dir.resolve("other-head");
        Files.createDirectories(other);
        JsonObject cfg = JsonParser.parseString(Files.readString(model.resolve("config.json"))).getAsJsonObject();
        cfg.addProperty("hidden_size", 64);
        cfg.addProperty("exit_layer", 1);
        Files.writeString(other.resolve("config.json"), cfg.toString());
        run("eval", "--model", model.toString(), "--heldout", heldOut.toString(), "--exit-head", other.toString())
                .fails(other.resolve("config.json").toString(), "exit head was built for another model");
    }
}
