package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.checkpoint.ModelLoadException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad scheduler options fail in {@link GenerationEngine#open}, before any prompt is decoded, with a message that
 * names the option, the bad value and the legal range. The model has 4 layers (hidden 64).
 */
class EngineOpenErrorsTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), 1.0, 3);
    }

    private static String openFails(EngineOptions o) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> GenerationEngine.open(o).close(),
                "open should fail for " + o);
        return e.getMessage();
    }

    private static void assertContains(String message, String... fragments) {
        for (String f : fragments) {
            assertTrue(message != null && message.contains(f), "message should contain '" + f + "' but was: "
                    + message);
        }
    }

    static Stream<Arguments> badOptions() {
        // label, mode, stages, exit layer, expected message fragment
        return Stream.of(
                Arguments.of("exit layer = N (ppsd)", "ppsd", List.of("cpu", "cpu"), 4,
                        "exit_layer must be in [1, 4) but was 4"),
                Arguments.of("exit layer > N (eesd)", "eesd", List.of("cpu", "cpu"), 9,
                        "exit_layer must be in [1, 4) but was 9"),
                Arguments.of("exit layer too deep for k=3", "ppsd", List.of("cpu", "cpu", "cpu"), 3,
                        "exit_layer must be in [1, 2] for 3 stages of 4 layers but was 3"),
                Arguments.of("more stages than layers", "ppsd", List.of("cpu", "cpu", "cpu", "cpu", "cpu"), 1,
                        "cannot split 4 layers into 5 stages"),
                Arguments.of("ppsd on one stage", "ppsd", List.of("cpu"), 2, "ppsd needs at least 2 stages but got 1"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badOptions")
    void badOptionFailsAtOpenWithItsRange(String label, String mode, List<String> stages, int exitLayer,
            String message) {
        EngineOptions o = EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.STAGES, String.join(",", stages)).with(Settings.EXIT_LAYER, exitLayer);
        assertContains(openFails(o), message);
    }

    @Test
    void negativeExitLayerIsRejectedByTheOptionsThemselves() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.EXIT_LAYER, -1));
        assertContains(e.getMessage(), "exit_layer must be >= 1 (or 0 for the default) but was -1");
    }

    @Test
    void unknownDevicesAreRejectedByTheOptionsThemselves() {
        for (String stages : List.of("cpu,tpu0", "gpu,cpu", "cpu,,cpu")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EngineOptions.of(model).with(Settings.STAGES, stages));
            assertEquals("stages must be auto or a comma-separated device list such as cpu,cpu or gpu0,gpu1 but was "
                    + stages, e.getMessage());
        }
    }

    @Test
    void zeroGammaIsRejectedByTheOptionsThemselves() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineOptions.of(model).with(Settings.MODE, "eesd").with(Settings.GAMMA, "0"));
        assertContains(e.getMessage(), "gamma must be a positive integer or 'ts' but was 0");
    }

    @Test
    void gpuRequestedWithoutGpusNamesTheCount() {
        assumeTrue(Engine.getInstance().getGpuCount() == 0,
                "this machine has a GPU: the 'has 0 GPUs' message only applies on CPU-only machines");
        for (String mode : List.of("ppsd", "ar-pipe", "eesd")) {
            String m = openFails(EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.STAGES, String.join(",", List.of("gpu0", "cpu"))));
            assertContains(m, "stage 0 asks for gpu0 but this machine has 0 GPUs");
            m = openFails(EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.STAGES, String.join(",", List.of("cpu", "cuda:1"))));
            assertContains(m, "stage 1 asks for cuda:1 but this machine has 0 GPUs");
        }
    }

    @Test
    void exitHeadBuiltForAnotherModelFailsAtOpen() throws IOException {
        LlamaConfig other = ControlledAcceptanceModel.config(4, 32, ControlledAcceptanceModel.VOCAB, List.of(1));
        Path head = ControlledAcceptanceModel.writeRandomExitHead(tmp.resolve("other-head"), other, 2, 5);
        for (String mode : List.of("ppsd", "eesd")) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> GenerationEngine.open(
                    EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.EXIT_HEAD, head.toString())).close());
            assertTrue(e instanceof ModelLoadException, "expected ModelLoadException but got " + e);
            assertContains(e.getMessage(), head.resolve("config.json").toString(),
                    "exit head was built for another model (hidden_size 32, vocab_size 320, 4 layers)",
                    "but the model has hidden_size 64, vocab_size 320, 4 layers");
        }
    }

    @Test
    void exitHeadForAnotherLayerCountFailsAtOpen() throws IOException {
        LlamaConfig deeper = ControlledAcceptanceModel.config(6, 64, ControlledAcceptanceModel.VOCAB, List.of(1));
        Path head = ControlledAcceptanceModel.writeRandomExitHead(tmp.resolve("deeper-head"), deeper, 2, 5);
        assertContains(openFails(EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.EXIT_HEAD, head.toString())),
                "exit head was built for another model (hidden_size 64, vocab_size 320, 6 layers)");
    }

    @Test
    void exitLayerThatContradictsTheTrainedHeadFailsAtOpen() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(4, 64, ControlledAcceptanceModel.VOCAB, List.of(1));
        Path head = ControlledAcceptanceModel.writeRandomExitHead(tmp.resolve("head-at-2"), c, 2, 5);
        assertContains(openFails(EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.EXIT_HEAD, head.toString())
                .with(Settings.EXIT_LAYER, 1)), "exit_layer 1 does not match the exit head in " + head + " (trained for layer 2)");
    }

    @Test
    void missingExitHeadFolderFailsAtOpen() {
        Path nowhere = tmp.resolve("no-such-head");
        String m = openFails(EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.EXIT_HEAD, nowhere.toString()));
        assertContains(m, nowhere.resolve("config.json").toString(), "an exit head folder needs config.json");
    }
}
