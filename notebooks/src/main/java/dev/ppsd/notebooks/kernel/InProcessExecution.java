package dev.ppsd.notebooks.kernel;

import jdk.jshell.execution.DirectExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;

import java.lang.reflect.Method;
import java.util.Map;

/**
 * Runs JShell snippets in the calling thread of this JVM. JShell's own {@code local} engine runs each snippet in a
 * fresh thread group and waits for every thread of that group to end, so a cell that starts a SparkSession (whose
 * threads live on) would never finish; here the snippet simply runs in the kernel's shell thread and the threads
 * it starts belong to the kernel. An interrupt request interrupts that thread.
 */
final class InProcessExecution extends DirectExecutionControl {
    private volatile Thread running;

    @Override
    protected String invoke(Method doitMethod) throws Exception {
        running = Thread.currentThread();
        try {
            return super.invoke(doitMethod);
        } finally {
            running = null;
            Thread.interrupted(); // an interrupt that arrived as the snippet ended must not hit the next one
        }
    }

    @Override
    public void stop() {
        Thread t = running;
        if (t != null) {
            t.interrupt();
        }
    }

    /** The provider JShell asks for its execution engine; remembers the engine to interrupt it. */
    static final class Provider implements ExecutionControlProvider {
        private volatile InProcessExecution current;

        @Override
        public String name() {
            return "ppsd-in-process";
        }

        @Override
        public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
            current = new InProcessExecution();
            return current;
        }

        void interruptRunning() {
            InProcessExecution c = current;
            if (c != null) {
                c.stop();
            }
        }
    }
}
