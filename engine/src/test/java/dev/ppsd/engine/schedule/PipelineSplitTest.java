package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ppsd.engine.model.LlamaConfig;

import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Layer boundaries of a k-stage pipeline: stage 0 is {@code [0, E)} (the drafter's layers), the other N - E
 * layers are split as evenly as possible over stages 1..k-1, deeper stages taking the remainder.
 */
class PipelineSplitTest {
    private static LlamaConfig layers(int n) {
        return ControlledAcceptanceModel.config(n, 32, 16, List.of(1));
    }

    static Stream<Arguments> splits() {
        // layers N, stages k, exit layer E, expected bounds
        return Stream.of(
                Arguments.of(4, 2, 2, new int[] {0, 2, 4}),
                Arguments.of(8, 2, 3, new int[] {0, 3, 8}),
                Arguments.of(8, 2, 7, new int[] {0, 7, 8}),
                Arguments.of(8, 3, 2, new int[] {0, 2, 5, 8}),
                Arguments.of(8, 3, 3, new int[] {0, 3, 5, 8}), // 5 layers over 2 stages: 2 + 3, deeper gets more
                Arguments.of(8, 4, 1, new int[] {0, 1, 3, 5, 8}), // 7 over 3: 2, 2, 3
                Arguments.of(8, 4, 3, new int[] {0, 3, 4, 6, 8}), // 5 over 3: 1, 2, 2
                Arguments.of(6, 4, 3, new int[] {0, 3, 4, 5, 6}), // E = N - k + 1: one layer per later stage
                Arguments.of(4, 4, 1, new int[] {0, 1, 2, 3, 4}),
                Arguments.of(5, 1, 2, new int[] {0, 5})); // one stage holds everything (E ignored)
    }

    @ParameterizedTest(name = "N={0} k={1} E={2}")
    @MethodSource("splits")
    void boundsStartAtExitLayerAndSpreadTheRest(int n, int k, int e, int[] bounds) {
        PipelineSplit s = PipelineSplit.of(layers(n), k, e);
        assertArrayEquals(bounds, s.bounds(), s.toString());
        assertEquals(k, s.stages());
        for (int b = 0; b < k; b++) {
            assertEquals(bounds[b], s.from(b));
            assertEquals(bounds[b + 1], s.to(b));
        }
    }

    static Stream<Arguments> badSplits() {
        return Stream.of(
                Arguments.of(4, 5, 2, "cannot split 4 layers into 5 stages"),
                Arguments.of(4, 0, 2, "stages must be >= 1 but was 0"),
                Arguments.of(4, 2, 4, "exit_layer must be in [1, 3] for 2 stages of 4 layers but was 4"),
                Arguments.of(4, 2, 0, "exit_layer must be in [1, 3] for 2 stages of 4 layers but was 0"),
                Arguments.of(4, 3, 3, "exit_layer must be in [1, 2] for 3 stages of 4 layers but was 3"),
                Arguments.of(6, 4, 4, "exit_layer must be in [1, 3] for 4 stages of 6 layers but was 4"));
    }

    @ParameterizedTest(name = "N={0} k={1} E={2}: {3}")
    @MethodSource("badSplits")
    void badSplitNamesTheLegalRange(int n, int k, int e, String message) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> PipelineSplit.of(layers(n), k, e));
        assertEquals(message, ex.getMessage());
    }

    @Test
    void everyLegalExitLayerGivesContiguousNonEmptyStages() {
        for (int n = 2; n <= 8; n++) {
            for (int k = 2; k <= n; k++) {
                for (int e = 1; e <= n - k + 1; e++) {
                    int[] b = PipelineSplit.of(layers(n), k, e).bounds();
                    assertEquals(0, b[0]);
                    assertEquals(e, b[1]);
                    assertEquals(n, b[k]);
                    int min = Integer.MAX_VALUE;
                    int max = 0;
                    for (int s = 1; s <= k; s++) {
                        assertEquals(true, b[s] > b[s - 1], "empty stage in " + java.util.Arrays.toString(b));
                        if (s >= 2) {
                            min = Math.min(min, b[s] - b[s - 1]);
                            max = Math.max(max, b[s] - b[s - 1]);
                        }
                    }
                    assertEquals(true, k == 2 || max - min <= 1, "uneven split " + java.util.Arrays.toString(b));
                }
            }
        }
    }
}
