package dev.ppsd.job;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Spark standalone cluster on the loopback address, from the Spark jars of the build: a Master and a Worker
 * (2 cores) as separate JVMs, and a throw-away SPARK_HOME whose {@code jars/} links the Spark jars (the Worker
 * launches executors with Spark's launcher, which puts {@code $SPARK_HOME/jars/*} on their classpath; the job's
 * classes reach them only through the submitted assembly jar). Every wait is bounded; {@link #close} ends the
 * processes this class started and their children (executors).
 */
final class StandaloneCluster implements AutoCloseable {
    /** Spark's --add-opens list for Java 17 (JavaModuleOptions), for the JVMs started here. */
    static final List<String> ADD_OPENS = List.of("-XX:+IgnoreUnrecognizedVMOptions",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED", "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
            "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false",
            "-Dio.netty.tryReflectionSetAccessible=true");

    final Path home;
    final Path logs;
    final String masterUrl;
    private final List<Process> started = new ArrayList<>();

    private StandaloneCluster(Path home, Path logs, String masterUrl) {
        this.home = home;
        this.logs = logs;
        this.masterUrl = masterUrl;
    }

    /** Builds SPARK_HOME under {@code dir} from {@code sparkLib} and starts a Master and a 2-core Worker. */
    static StandaloneCluster start(Path dir, Path sparkLib, Duration timeout) throws IOException, InterruptedException {
        Path home = dir.resolve("spark-home");
        Path jars = Files.createDirectories(home.resolve("jars"));
        try (Stream<Path> s = Files.list(sparkLib)) {
            for (Path j : s.filter(p -> p.toString().endsWith(".jar")).toList()) {
                Path link = jars.resolve(j.getFileName());
                if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.createSymbolicLink(link, j.toAbsolutePath());
                }
            }
        }
        Path conf = Files.createDirectories(home.resolve("conf"));
        Files.writeString(conf.resolve("log4j2.properties"), String.join("\n",
                "rootLogger.level = warn", "rootLogger.appenderRef.stderr.ref = console",
                "appender.console.type = Console", "appender.console.name = console",
                "appender.console.target = SYSTEM_ERR", "appender.console.layout.type = PatternLayout",
                "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex",
                // the lines the waits below look for
                "logger.master.name = org.apache.spark.deploy.master.Master", "logger.master.level = info",
                "logger.worker.name = org.apache.spark.deploy.worker.Worker", "logger.worker.level = info", ""));
        Path logs = Files.createDirectories(dir.resolve("logs"));
        int port = freePort();
        StandaloneCluster c = new StandaloneCluster(home, logs, "spark://127.0.0.1:" + port);
        try {
            c.startDaemon("master", List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                    String.valueOf(port), "--webui-port", String.valueOf(freePort())));
            c.awaitLog("master", "I have been elected leader", timeout);
            Path work = Files.createDirectories(dir.resolve("work"));
            c.startDaemon("worker", List.of("org.apache.spark.deploy.worker.Worker", c.masterUrl, "--host",
                    "127.0.0.1", "--port", String.valueOf(freePort()), "--webui-port", String.valueOf(freePort()),
                    "--cores", "2", "--memory", "2g", "--work-dir", work.toString()));
            c.awaitLog("worker", "Successfully registered with master", timeout);
            return c;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    /** The classpath of a Spark JVM: conf/ and jars/* of SPARK_HOME. */
    String classpath() {
        return home.resolve("conf") + java.io.File.pathSeparator + home.resolve("jars") + "/*";
    }

    /** The environment every Spark JVM here gets: SPARK_HOME, loopback only, offline DJL. */
    void environment(Map<String, String> env) {
        env.put("SPARK_HOME", home.toString());
        env.put("SPARK_SCALA_VERSION", "2.13");
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("SPARK_LOCAL_HOSTNAME", "localhost");
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("OPT_OUT_TRACKING", "true");
    }

    private void startDaemon(String name, List<String> mainAndArgs) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-Xmx512m", "-cp", classpath()));
        cmd.addAll(ADD_OPENS);
        cmd.addAll(mainAndArgs);
        start(name, cmd);
    }

    /** Starts a process with the cluster's environment, output to logs/NAME.log; it is ended by {@link #close}. */
    Process start(String name, List<String> cmd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(logs.resolve(name + ".log").toFile());
        environment(pb.environment());
        Process p = pb.start();
        synchronized (started) {
            started.add(p);
        }
        return p;
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Waits until logs/NAME.log contains {@code text}. */
    void awaitLog(String name, String text, Duration timeout) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        Path log = logs.resolve(name + ".log");
        while (System.nanoTime() < end) {
            if (Files.exists(log) && Files.readString(log).contains(text)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError(name + " did not log '" + text + "' within " + timeout + ":\n" + tail(name));
    }

    /** The last lines of logs/NAME.log, for failure messages. */
    String tail(String name) {
        try {
            List<String> lines = Files.readAllLines(logs.resolve(name + ".log"));
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Ends {@code p} and its children: SIGTERM, then SIGKILL after a grace period. */
    static void end(Process p, Duration grace) throws InterruptedException {
        List<ProcessHandle> children = p.descendants().toList();
        p.destroy();
        if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
        }
        for (ProcessHandle c : children) {
            if (c.isAlive()) {
                c.destroyForcibly();
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        List<Process> ps;
        synchronized (started) {
            ps = new ArrayList<>(started);
        }
        // the worker first: it stops its executors on SIGTERM
        java.util.Collections.reverse(ps);
        for (Process p : ps) {
            try {
                end(p, Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    /** Deletes a folder tree (best effort: the work folder of a killed executor may be busy). */
    static void delete(Path p) {
        try {
            JobTests.deleteTree(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
