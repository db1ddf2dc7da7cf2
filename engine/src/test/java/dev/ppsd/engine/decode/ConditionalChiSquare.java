package dev.ppsd.engine.decode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * Test helper: goodness of fit of draws that each follow their own distribution. Draw {@code i} comes with the
 * distribution {@code p_i} it must follow given everything drawn before it (for a generated token: the target's
 * warped distribution after the sequence's own prefix) and a group key that depends on the past only (the
 * position, or the token before it). Per group, with one-hot draws {@code x_i}:
 * <pre>
 *   d = sum_i (x_i - p_i)                      observed minus expected counts, per token
 *   C = sum_i (diag(p_i) - p_i p_i^T)          their covariance
 *   Q = d^T C^-1 d                             over all tokens but one (d sums to 0)
 * </pre>
 * The terms of {@code d} are martingale differences, so Q is chi-square with (tokens - 1) degrees of freedom as
 * counts grow, and groups add up (their increments are uncorrelated). Unlike Pearson's statistic on the joint of
 * the first few tokens, this needs no enumeration of prefixes, so every token of a long sequence counts. Tokens
 * whose expected count in a group is below {@code minExpected} are pooled into one rest category (pooled with the
 * smallest token when the rest itself is below it), as Pearson's rule of five; pooling is decided on expected
 * counts only.
 */
public final class ConditionalChiSquare {
    private final int vocab;
    private final TreeMap<Integer, Group> groups = new TreeMap<>();

    public ConditionalChiSquare(int vocab) {
        this.vocab = vocab;
    }

    /** The outcome: statistic, degrees of freedom, the number of groups with at least one degree of freedom. */
    public record Result(double statistic, int df, int groups) {
        public double pValue() {
            return df == 0 ? 1 : ChiSquare.survival(statistic, df);
        }
    }

    private static final class Group {
        final long[] observed;
        final double[] expected;
        final double[][] cov;
        long draws;

        Group(int v) {
            observed = new long[v];
            expected = new double[v];
            cov = new double[v][v];
        }
    }

    /** Records one draw of {@code token} that should follow {@code p} (a distribution over the vocabulary). */
    public void add(int group, int token, float[] p) {
        if (p[token] <= 0) {
            throw new AssertionError("token " + token + " was drawn but has probability 0 in " + Arrays.toString(p));
        }
        Group g = groups.computeIfAbsent(group, k -> new Group(vocab));
        g.observed[token]++;
        g.draws++;
        for (int v = 0; v < vocab; v++) {
            double pv = p[v];
            if (pv == 0) {
                continue;
            }
            g.expected[v] += pv;
            g.cov[v][v] += pv;
            for (int w = 0; w < vocab; w++) {
                g.cov[v][w] -= pv * p[w];
            }
        }
    }

    /** Q summed over groups, with its degrees of freedom. */
    public Result result(double minExpected) {
        double q = 0;
        int df = 0;
        int used = 0;
        for (Group g : groups.values()) {
            int[] category = pool(g.expected, minExpected);
            int m = Arrays.stream(category).max().orElse(-1) + 1;
            if (m < 2) {
                continue;
            }
            double[] d = new double[m];
            double[][] c = new double[m][m];
            for (int v = 0; v < vocab; v++) {
                if (category[v] < 0) {
                    continue;
                }
                d[category[v]] += g.observed[v] - g.expected[v];
                for (int w = 0; w < vocab; w++) {
                    if (category[w] >= 0) {
                        c[category[v]][category[w]] += g.cov[v][w];
                    }
                }
            }
            // drop the last category: d sums to 0 and C is singular along the all-ones vector
            double[] dd = Arrays.copyOf(d, m - 1);
            double[][] cc = new double[m - 1][];
            for (int i = 0; i < m - 1; i++) {
                cc[i] = Arrays.copyOf(c[i], m - 1);
            }
            double[] x = solve(cc, dd.clone());
            for (int i = 0; i < m - 1; i++) {
                q += dd[i] * x[i];
            }
            df += m - 1;
            used++;
        }
        return new Result(q, df, used);
    }

    /**
     * Category of each token: tokens with expected count >= minExpected keep their own, the others share a rest
     * category (merged into the smallest kept one when below minExpected); -1 for tokens that cannot occur.
     */
    static int[] pool(double[] expected, double minExpected) {
        int[] category = new int[expected.length];
        List<Integer> rest = new ArrayList<>();
        double restExpected = 0;
        int m = 0;
        int smallest = -1;
        for (int v = 0; v < expected.length; v++) {
            if (expected[v] <= 0) {
                category[v] = -1;
            } else if (expected[v] >= minExpected) {
                category[v] = m++;
                smallest = smallest < 0 || expected[v] < expected[smallest] ? v : smallest;
            } else {
                rest.add(v);
                restExpected += expected[v];
            }
        }
        int restCategory = restExpected >= minExpected || smallest < 0 ? m : category[smallest];
        for (int v : rest) {
            category[v] = restCategory;
        }
        return category;
    }

    /** Solves {@code a x = b} by Gaussian elimination with partial pivoting ({@code a} is overwritten). */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int r = col + 1; r < n; r++) {
                pivot = Math.abs(a[r][col]) > Math.abs(a[pivot][col]) ? r : pivot;
            }
            double[] t = a[col];
            a[col] = a[pivot];
            a[pivot] = t;
            double tb = b[col];
            b[col] = b[pivot];
            b[pivot] = tb;
            if (a[col][col] == 0) {
                throw new ArithmeticException("singular covariance");
            }
            for (int r = col + 1; r < n; r++) {
                double f = a[r][col] / a[col][col];
                for (int k = col; k < n; k++) {
                    a[r][k] -= f * a[col][k];
                }
                b[r] -= f * b[col];
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = b[r];
            for (int k = r + 1; k < n; k++) {
                s -= a[r][k] * x[k];
            }
            x[r] = s / a[r][r];
        }
        return x;
    }
}
