package dev.ppsd.engine.decode;

/**
 * Test helper: Pearson's chi-square statistic and the chi-square distribution's tail, so statistical tests
 * can state their false-failure rate. The tail is the regularised upper incomplete gamma function
 * {@code Q(df/2, x/2)} (series for {@code x < a + 1}, Lentz continued fraction otherwise, as in Numerical
 * Recipes 6.2); checked against scipy in {@code ChiSquareTest}.
 */
public final class ChiSquare {
    private ChiSquare() {
    }

    /** Pearson's statistic {@code sum (observed - expected)^2 / expected}; every expected count must be > 0. */
    public static double statistic(long[] observed, double[] expected) {
        if (observed.length != expected.length) {
            throw new IllegalArgumentException("observed and expected differ in length");
        }
        double x = 0;
        for (int i = 0; i < observed.length; i++) {
            if (!(expected[i] > 0)) {
                throw new IllegalArgumentException("expected count of cell " + i + " is " + expected[i]);
            }
            double d = observed[i] - expected[i];
            x += d * d / expected[i];
        }
        return x;
    }

    /** A pooled test's statistic and degrees of freedom. */
    public record Result(double statistic, int df) {
    }

    /**
     * Pearson's statistic of {@code counts} of {@code n} draws against the exact probabilities {@code p}: cells whose
     * expected count is below 5 are pooled into one rest cell (itself pooled into the smallest cell when below 5); a
     * cell of probability 0 that occurred fails at once.
     */
    public static Result pooled(long[] counts, double[] p, int n) {
        java.util.List<Long> obs = new java.util.ArrayList<>();
        java.util.List<Double> exp = new java.util.ArrayList<>();
        long restObs = 0;
        double restExp = 0;
        for (int i = 0; i < p.length; i++) {
            double e = p[i] * n;
            if (p[i] == 0 && counts[i] > 0) {
                throw new AssertionError("cell " + i + " has probability 0 but occurred " + counts[i] + " times");
            }
            if (e >= 5) {
                obs.add(counts[i]);
                exp.add(e);
            } else {
                restObs += counts[i];
                restExp += e;
            }
        }
        if (restExp >= 5) {
            obs.add(restObs);
            exp.add(restExp);
        } else if (restExp > 0) {
            int min = 0;
            for (int i = 1; i < exp.size(); i++) {
                min = exp.get(i) < exp.get(min) ? i : min;
            }
            obs.set(min, obs.get(min) + restObs);
            exp.set(min, exp.get(min) + restExp);
        }
        return new Result(statistic(obs.stream().mapToLong(Long::longValue).toArray(),
                exp.stream().mapToDouble(Double::doubleValue).toArray()), obs.size() - 1);
    }

    /** {@code P(X > x)} for X ~ chi-square with {@code df} degrees of freedom. */
    public static double survival(double x, int df) {
        if (x <= 0) {
            return 1;
        }
        return upperGamma(df / 2.0, x / 2.0);
    }

    /** The critical value: the {@code x} with {@code P(X > x) = alpha}. */
    public static double criticalValue(int df, double alpha) {
        double lo = 0;
        double hi = 1;
        while (survival(hi, df) > alpha) {
            hi *= 2;
        }
        for (int i = 0; i < 200; i++) {
            double mid = (lo + hi) / 2;
            if (survival(mid, df) > alpha) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return (lo + hi) / 2;
    }

    /** Regularised upper incomplete gamma {@code Q(a, x) = Gamma(a, x) / Gamma(a)}. */
    static double upperGamma(double a, double x) {
        double lnPrefix = -x + a * Math.log(x) - lnGamma(a);
        if (x < a + 1) {
            // series for P(a, x)
            double sum = 1 / a;
            double term = sum;
            for (int n = 1; n < 10_000; n++) {
                term *= x / (a + n);
                sum += term;
                if (Math.abs(term) < Math.abs(sum) * 1e-16) {
                    break;
                }
            }
            return 1 - sum * Math.exp(lnPrefix);
        }
        // continued fraction for Q(a, x) (modified Lentz)
        double tiny = 1e-300;
        double b = x + 1 - a;
        double c = 1 / tiny;
        double d = 1 / b;
        double h = d;
        for (int i = 1; i < 10_000; i++) {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b;
            if (Math.abs(d) < tiny) {
                d = tiny;
            }
            c = b + an / c;
            if (Math.abs(c) < tiny) {
                c = tiny;
            }
            d = 1 / d;
            double del = d * c;
            h *= del;
            if (Math.abs(del - 1) < 1e-16) {
                break;
            }
        }
        return Math.exp(lnPrefix) * h;
    }

    /** ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). */
    static double lnGamma(double x) {
        double[] g = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7};
        if (x < 0.5) {
            return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
        }
        x -= 1;
        double a = g[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) {
            a += g[i] / (x + i);
        }
        return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
    }
}
