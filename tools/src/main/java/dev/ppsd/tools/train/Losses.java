package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** Training objectives on logits {@code [B, T, V]}: next-token cross-entropy and distillation KL. */
final class Losses {
    private Losses() {
    }

    /** Mean cross-entropy of {@code logits} against {@code targets [B][T]}. */
    static NDArray crossEntropy(NDManager m, NDArray logits, int[][] targets) {
        int b = targets.length;
        int t = targets[0].length;
        long[] flat = new long[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                flat[i * t + j] = targets[i][j];
            }
        }
        NDArray idx = m.create(flat, new Shape(b, t, 1));
        // [B, T, V] -> pick target -> [B, T, 1]
        return logits.logSoftmax(-1).gather(idx, -1).mean().neg();
    }

    /** Mean over positions of KL(p || q) with p = softmax(teacher) (no gradient) and q = softmax(student). */
    static NDArray kl(NDArray teacherLogits, NDArray studentLogits) {
        NDArray logP = teacherLogits.stopGradient().logSoftmax(-1);
        NDArray logQ = studentLogits.logSoftmax(-1);
        Shape shape = teacherLogits.getShape();
        long positions = shape.size() / shape.get(shape.dimension() - 1);
        return logP.exp().mul(logP.sub(logQ)).sum().div(positions);
    }

    /** Inputs and targets of windows of length T+1: {@code [B][T]} each. */
    static int[][][] split(int[][] windows) {
        int b = windows.length;
        int t = windows[0].length - 1;
        int[][] in = new int[b][t];
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++) {
            System.arraycopy(windows[i], 0, in[i], 0, t);
            System.arraycopy(windows[i], 1, out[i], 0, t);
        }
        return new int[][][] {in, out};
    }
}
