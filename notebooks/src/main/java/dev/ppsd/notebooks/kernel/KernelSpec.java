package dev.ppsd.notebooks.kernel;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

/**
 * Writes the kernelspec of {@link JShellKernel}: {@code <dir>/kernels/ppsd-java/kernel.json}, whose command line
 * starts the kernel JVM with this build's classpath (this module's classes plus {@code target/kernel-classpath.txt}:
 * udf, engine, DJL, Spark, jjava-jupyter) and the flags every ppsd JVM gets (offline DJL, no usage tracking, one
 * intra-op thread per stage thread, Spark's {@code --add-opens} list, the DJL cache under
 * {@code <repo>/target/ppsd-cache}). Paths are absolute: the spec belongs to this checkout and this build.
 *
 * <pre>
 * KernelSpec [DIR]    DIR defaults to notebooks/target/jupyter; use it as JUPYTER_PATH, or give a Jupyter data dir
 *                     (`jupyter --data-dir`) to install the kernel for your own Jupyter
 * </pre>
 */
public final class KernelSpec {
    /** The kernel's name (notebook metadata {@code kernelspec.name}). */
    public static final String NAME = "ppsd-java";
    /** The name Jupyter shows in its launcher and kernel menu. */
    public static final String DISPLAY_NAME = "Java 17 (ppsd-spark)";
    /** Heap of the kernel JVM: driver, local executor and the engines' weights. */
    static final String HEAP = "-Xmx4g";

    private KernelSpec() {
    }

    public static void main(String[] args) {
        if (args.length > 1 || args.length == 1 && args[0].startsWith("-")) {
            System.err.println("usage: KernelSpec [DIR]   (default: notebooks/target/jupyter)");
            System.exit(2);
        }
        Path dir = args.length == 1 ? Path.of(args[0]) : moduleTarget().resolve("jupyter");
        Path file = write(dir);
        System.out.println("kernel " + NAME + " (" + DISPLAY_NAME + ") written to " + file);
    }

    /** Writes {@code dir/kernels/ppsd-java/kernel.json} and returns it. */
    public static Path write(Path dir) {
        Path target = moduleTarget();
        Path repo = target.getParent().getParent();
        String cache = System.getenv().getOrDefault("PPSD_CACHE", repo.resolve("target/ppsd-cache").toString());
        List<String> argv = new ArrayList<>();
        argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        argv.add(HEAP);
        argv.addAll(Arrays.asList(properties().getProperty("jvm.args").trim().split("\\s+")));
        argv.add("-DDJL_CACHE_DIR=" + cache + "/djl");
        argv.add("-DENGINE_CACHE_DIR=" + cache + "/djl");
        argv.add("-cp");
        argv.add(classpath(target));
        argv.add(JShellKernel.class.getName());
        argv.add("{connection_file}");

        JsonObject spec = new JsonObject();
        JsonArray a = new JsonArray();
        argv.forEach(a::add);
        spec.add("argv", a);
        spec.addProperty("display_name", DISPLAY_NAME);
        spec.addProperty("language", "java");
        spec.addProperty("interrupt_mode", "message");
        JsonObject env = new JsonObject();
        env.addProperty("OPT_OUT_TRACKING", "true");
        env.addProperty("PPSD_REPO", repo.toString());
        spec.add("env", env);
        try {
            Path file = dir.resolve("kernels").resolve(NAME).resolve("kernel.json");
            Files.createDirectories(file.getParent());
            Files.writeString(file, new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(spec)
                    + "\n");
            Files.createDirectories(Path.of(cache, "djl"));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The version of this build ({@code project.version}). */
    public static String version() {
        return properties().getProperty("version", "");
    }

    /** This module's classes (or jar) plus the runtime classpath Maven wrote to target/kernel-classpath.txt. */
    static String classpath(Path target) {
        Path file = target.resolve("kernel-classpath.txt");
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException(file + " is missing: build the notebooks module first"
                    + " (mvn -q -DskipTests package -pl notebooks -am)");
        }
        try {
            return codeSource() + java.io.File.pathSeparator + Files.readString(file).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** notebooks/target: the folder holding this class's classes folder or jar. */
    static Path moduleTarget() {
        return codeSource().toAbsolutePath().getParent();
    }

    private static Path codeSource() {
        try {
            return Path.of(KernelSpec.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Properties properties() {
        Properties p = new Properties();
        try (InputStream in = KernelSpec.class.getResourceAsStream("kernel.properties")) {
            if (in == null) {
                throw new IllegalStateException("kernel.properties is missing from the classpath");
            }
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }
}
