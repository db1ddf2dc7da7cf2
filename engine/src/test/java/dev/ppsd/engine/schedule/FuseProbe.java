package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.util.PairList;
import dev.ppsd.engine.runtime.DjlRuntime;

/** Scratch: separate vs fused projections. */
public class FuseProbe {
    public static void main(String[] a) {
        DjlRuntime.init();
        int d = Integer.parseInt(a[0]), qd = Integer.parseInt(a[1]), kvd = Integer.parseInt(a[2]), f = Integer.parseInt(a[3]);
        int rows = Integer.parseInt(a[4]);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(rows, 1, d));
            NDArray q = m.randomNormal(new Shape(qd, d)), k = m.randomNormal(new Shape(kvd, d)), v = m.randomNormal(new Shape(kvd, d));
            NDArray g = m.randomNormal(new Shape(f, d)), u = m.randomNormal(new Shape(f, d));
            NDArray qkv = q.concat(k, 0).concat(v, 0), gu = g.concat(u, 0);
            for (int round = 0; round < 3; round++) {
                long t0 = System.nanoTime();
                int n = 3000;
                for (int i = 0; i < n; i++) {
                    try (NDManager s = m.newSubManager()) {
                        x.attach(m);
                        NDArray a1 = Linear.linear(x, q).head(); NDArray a2 = Linear.linear(x, k).head(); NDArray a3 = Linear.linear(x, v).head();
                        NDArray b1 = Linear.linear(x, g).head(); NDArray b2 = Linear.linear(x, u).head();
                        a1.close(); a2.close(); a3.close(); b1.close(); b2.close();
                    }
                }
                long t1 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    NDArray a1 = Linear.linear(x, qkv).head();
                    var parts = a1.split(new long[] {qd, qd + kvd}, 2);
                    NDArray b1 = Linear.linear(x, gu).head();
                    var p2 = b1.split(2, 2);
                    a1.close(); parts.close(); b1.close(); p2.close();
                }
                long t2 = System.nanoTime();
                System.out.printf("separate %.1f us, fused %.1f us per layer (rows %d)%n", (t1 - t0) / 1e3 / n, (t2 - t1) / 1e3 / n, rows);
            }
        }
    }
}
