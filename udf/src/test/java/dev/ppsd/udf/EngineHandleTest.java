package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.spark.SparkFiles;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One engine per executor JVM: failed engines are dropped and opened again, and where weights are read from. */
class EngineHandleTest {
    /** Options no other test uses (batch size 3), so build counts here are this test's own. */
    private static EngineOptions ownKey() {
        return EngineOptions.of(TestSpark.model()).with(Settings.BATCH_SIZE, 3);
    }

    @Test
    void aFailedEngineIsDroppedAndTheNextCallOpensAFreshOne() {
        TestSpark.spark();
        EngineHandle handle = new EngineHandle(ownKey());
        EngineOptions key = handle.localOptions(null);
        GenerationEngine first = EngineHandle.engine(key);
        EngineHandle.injectFault(key, new OutOfMemoryError("simulated native OOM"));
        PpsdEngineException e = assertThrows(PpsdEngineException.class, () -> handle.generate(List.of(
                new GenerationRequest("1", "In the beginning", SamplingParams.greedy(2)))));
        assertTrue(e.getMessage().contains("simulated native OOM"), e.getMessage());
        assertTrue(first.isClosed(), "closed once no call uses it");
        assertEquals(2, handle.generate(List.of(
                new GenerationRequest("1", "In the beginning", SamplingParams.greedy(2)))).get(0).newTokens());
        assertNotSame(first, EngineHandle.engine(key));
        assertEquals(2, EngineHandle.opened(key));
    }

    @Test
    void aTaskThatHitAFailedEngineIsRetriedOnAFreshOneAndTheJobSucceeds() {
        PpsdGenerator gen = PpsdGeneratorTest.generator().setParam("batch_size", 5);
        EngineOptions key = gen.settings(true).handle().localOptions(null);
        List<Row> clean = TestSpark.sorted(gen.transform(PpsdGeneratorTest.prompts(1)).collectAsList(), "id");
        int opened = EngineHandle.opened(key);

        EngineHandle.injectFault(key, new IllegalStateException("simulated native error"));
        List<Row> retried = TestSpark.sorted(gen.transform(PpsdGeneratorTest.prompts(1)).collectAsList(), "id");

        assertEquals(opened + 1, EngineHandle.opened(key), "the retry opened a fresh engine");
        assertEquals(withoutTiming(clean), withoutTiming(retried), "and wrote the same rows");
    }

    @Test
    void anEngineOpenedAheadIsTheOneTheTasksUse() throws InterruptedException {
        PpsdGenerator gen = PpsdGeneratorTest.generator().setParam("batch_size", 7);
        EngineHandle handle = gen.settings(true).handle();
        EngineOptions key = handle.localOptions(null);
        assertEquals(0, EngineHandle.opened(key));
        handle.openAhead().join();
        assertEquals(1, EngineHandle.opened(key));
        List<Row> rows = gen.transform(PpsdGeneratorTest.prompts(1)).collectAsList();
        assertEquals(PpsdGeneratorTest.PROMPTS.length, rows.size());
        assertEquals(1, EngineHandle.opened(key), "the task used the engine opened ahead");
    }

    @Test
    void anEngineThatCannotOpenAheadFailsInTheTaskInItsOwnWords() throws InterruptedException {
        EngineHandle handle = new EngineHandle(ownKey().with(Settings.MODEL, "/nonexistent/ppsd-model"));
        handle.openAhead().join(); // returns quietly
        RuntimeException e = assertThrows(RuntimeException.class, () -> handle.generate(List.of(
                new GenerationRequest("1", "In the beginning", SamplingParams.greedy(2)))));
        assertTrue(e.getMessage().contains("/nonexistent/ppsd-model"), e.getMessage());
    }

    /** The rows without tokens_per_s (wall-clock timing differs between runs). */
    private static List<List<Object>> withoutTiming(List<Row> rows) {
        return rows.stream().map(r -> Arrays.asList(r.getAs("id"), r.getAs("generated_text"), r.getAs("finish_reason"),
                r.getAs("prompt_tokens"), r.getAs("new_tokens"), r.getAs("error"))).toList();
    }

    @Test
    void aHadoopUriIsCopiedToLocalDiskOncePerJvm() throws IOException {
        TestSpark.spark();
        String uri = TestSpark.TEST_SCHEME + "://" + TestSpark.model().toUri().getPath();
        Path local = ModelPaths.localize(uri);
        assertNotEquals(TestSpark.model(), local);
        assertSame(local, ModelPaths.localize(uri), "copied once");
        try (Stream<Path> files = Files.list(local)) {
            assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(Files.readString(TestSpark.model().resolve("config.json")),
                Files.readString(local.resolve("config.json")));
    }

    @Test
    void aFolderShippedWithAddFileIsFoundByItsName() throws IOException {
        Path shipped = Files.createTempDirectory("ppsd-ship-").resolve("tiny-shipped");
        Files.createDirectories(shipped);
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")) {
            Files.copy(TestSpark.model().resolve(f), shipped.resolve(f));
        }
        TestSpark.spark().sparkContext().addFile(shipped.toString(), true);
        assertEquals(Paths.get(SparkFiles.get("tiny-shipped")), ModelPaths.localize("tiny-shipped"));
    }

    @Test
    void aMissingLocalFolderIsNamed() {
        String m = assertThrows(IllegalArgumentException.class, () -> ModelPaths.localize("/no/such/model"))
                .getMessage();
        assertTrue(m.startsWith("model folder /no/such/model does not exist on host "), m);
        assertEquals(TestSpark.model(), ModelPaths.localize("file://" + TestSpark.model()));
    }
}
