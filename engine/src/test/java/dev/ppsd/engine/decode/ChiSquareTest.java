package dev.ppsd.engine.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The statistical tests' own yardstick: chi-square critical values against scipy.stats.chi2.isf. */
class ChiSquareTest {
    @Test
    void criticalValuesMatchScipy() {
        // scipy.stats.chi2.isf(alpha, df), scipy 1.17
        assertEquals(23.512742444991076, ChiSquare.criticalValue(4, 1e-4), 1e-6);
        assertEquals(25.013, ChiSquare.criticalValue(4, 5e-5), 1e-3);
        assertEquals(15.137, ChiSquare.criticalValue(1, 1e-4), 1e-3);
        assertEquals(41.470, ChiSquare.criticalValue(11, 2e-5), 1e-3);
        assertEquals(87.7193136893378, ChiSquare.criticalValue(40, 2e-5), 1e-6);
    }

    @Test
    void survivalIsOneMinusCdf() {
        // chi-square with 2 df is exponential with mean 2: P(X > x) = exp(-x / 2)
        for (double x : new double[] {0.1, 1, 3, 10, 40}) {
            assertEquals(Math.exp(-x / 2), ChiSquare.survival(x, 2), 1e-12);
        }
        assertEquals(1.0, ChiSquare.survival(0, 5));
        // statistic of an exact match is 0
        assertEquals(0.0, ChiSquare.statistic(new long[] {10, 30}, new double[] {10, 30}));
    }
}
