package dev.ppsd.notebooks;

import dev.ppsd.notebooks.kernel.JShellKernel;
import dev.ppsd.notebooks.kernel.JShellKernel.CellError;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The notebook kernel's evaluation, without Jupyter: cells in, values and errors out. */
class JShellKernelTest {
    private static JShellKernel kernel;

    @BeforeAll
    static void start() {
        kernel = JShellKernel.create("test", "0");
        kernel.warmUp();
    }

    @Test
    void aCellIsCutIntoSnippetsAndShowsItsLastExpression() {
        assertEquals("42", kernel.evalCell("int x = 40;\n// a comment\nint y = 2;\nx + y"));
        assertNull(kernel.evalCell("int z = x * 2;"), "a declaration shows nothing");
        assertEquals("80", kernel.evalCell("z"), "declarations stay for later cells");
        assertEquals("\"a, b\"", kernel.evalCell("String.join(\", \", List.of(\"a\", \"b\"))"),
                "jshell's DEFAULT imports are there");
    }

    @Test
    void theKernelClasspathIsImportable() {
        assertEquals("\"spark.ppsd.job.\"", kernel.evalCell("import dev.ppsd.udf.JobSettings;\nJobSettings.JOB_CONF_PREFIX"));
    }

    @Test
    void methodsAndTextBlocks() {
        kernel.evalCell("int twice(int v) {\n    return 2 * v;\n}\nString sql = \"\"\"\n    SELECT 1\n    \"\"\";");
        assertEquals("14", kernel.evalCell("twice(7)"));
        assertEquals("\"SELECT 1\\n\"", kernel.evalCell("sql"));
    }

    @Test
    void aCompileErrorNamesTheProblemAndPointsAtIt() {
        CellError e = assertThrows(CellError.class, () -> kernel.evalCell("int ok = 1;\nString s = noSuchVariable;"));
        assertTrue(e.getMessage().startsWith("compile error: cannot find symbol"), e.getMessage());
        assertTrue(String.join("\n", e.traceback()).contains("String s = noSuchVariable;\n               ^"),
                String.join("\n", e.traceback()));
        assertEquals("1", kernel.evalCell("ok"), "snippets before the failing one stay in effect");
    }

    @Test
    void codeThatDoesNotParseIsACompileError() {
        CellError e = assertThrows(CellError.class, () -> kernel.evalCell("int a = ;\nint b = 2;"));
        assertTrue(e.getMessage().startsWith("compile error: "), e.getMessage());
        assertThrows(CellError.class, () -> kernel.evalCell("}\nint c = 1;"));
    }

    @Test
    void anExceptionFailsTheCellWithItsClassMessageAndTrace() {
        CellError e = assertThrows(CellError.class,
                () -> kernel.evalCell("Object o = null;\nif (o == null) throw new IllegalStateException(\"boom\");"));
        assertEquals("java.lang.IllegalStateException: boom", e.getMessage());
        assertTrue(e.traceback().get(1).startsWith("\tat "), e.traceback().toString());
    }

    @Test
    void incompleteCodeFails() {
        CellError e = assertThrows(CellError.class, () -> kernel.evalCell("int q = Math.max(1,"));
        assertTrue(e.getMessage().startsWith("incomplete code"), e.getMessage());
        assertEquals("    ", kernel.isComplete("for (int i = 0; i < 3; i++) {"));
        assertEquals(JShellKernel.IS_COMPLETE_YES, kernel.isComplete("int a = 1;\nint b = 2;"));
    }

    /** JShell's own local engine would wait for every thread the snippet started: a SparkSession's never end. */
    @Test
    @Timeout(60)
    void aCellThatStartsLongLivedThreadsStillFinishes() {
        assertEquals("\"started\"", kernel.evalCell("""
                Thread t = new Thread(() -> {
                    try {
                        Thread.sleep(120_000);
                    } catch (InterruptedException e) {
                        // ended by the test
                    }
                });
                t.setDaemon(true);
                t.start();
                "started"
                """));
        kernel.evalCell("t.interrupt();");
    }
}
