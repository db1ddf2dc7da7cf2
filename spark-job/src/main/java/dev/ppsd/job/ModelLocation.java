package dev.ppsd.job;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Where the model comes from: {@code --model} (or {@code spark.ppsd.model}) when given, else the bundled
 * {@value #BUNDLED}, looked for under {@code -Dppsd.home} (bin/ppsd-job sets it to the repository), the working
 * folder, and the folders above the job's jar ({@code <repo>/spark-job/target/x.jar} finds {@code <repo>/models}).
 * A local model folder is checked on the driver before Spark starts; a Hadoop URI or the name of a folder shipped
 * with {@code --archives} is left to the executors ({@link dev.ppsd.udf.ModelPaths}).
 */
final class ModelLocation {
    /** The bundled model, relative to the repository root. */
    static final String BUNDLED = "models/ppsd-mini";

    private ModelLocation() {
    }

    /** The bundled model's folder, absolute; a {@link JobException} listing where it looked when it is missing. */
    static String bundled() {
        return bundled(roots());
    }

    /** {@link #bundled()} looking under {@code roots} only. */
    static String bundled(Iterable<Path> roots) {
        List<String> looked = new ArrayList<>();
        for (Path r : roots) {
            Path m = r.resolve(BUNDLED).normalize();
            if (Files.isRegularFile(m.resolve("config.json"))) {
                return m.toAbsolutePath().toString();
            }
            looked.add(m.toString());
        }
        throw JobException.usage("no --model given and the bundled model " + BUNDLED + " is missing (looked in "
                + String.join(", ", looked) + "): train it as the README says, or pass --model DIR");
    }

    /** -Dppsd.home, the working folder, and the folders above the job's classes. */
    private static Set<Path> roots() {
        Set<Path> roots = new LinkedHashSet<>();
        String home = System.getProperty("ppsd.home");
        if (home != null && !home.isBlank()) {
            roots.add(Paths.get(home));
        }
        roots.add(Paths.get("").toAbsolutePath());
        Path code = codeLocation();
        for (Path p = code; p != null && roots.size() < 8; p = p.getParent()) {
            roots.add(p);
        }
        return roots;
    }

    /**
     * Checks a model setting on the driver and returns the form to ship to executors: a local folder made absolute
     * after checking it holds a model; a URI or a shipped name unchanged.
     */
    static String check(String model, boolean submitted) {
        URI uri = dev.ppsd.udf.ModelPaths.uriOf(model);
        if (uri != null && !"file".equals(uri.getScheme())) {
            return model; // hdfs://, s3a://, ...: read by every executor (ModelPaths copies it to local disk)
        }
        Path p = uri != null ? Paths.get(uri) : Paths.get(model);
        if (!Files.exists(p)) {
            boolean bareName = !model.contains("/") && !model.contains(File.separator);
            if (bareName && submitted) {
                return model; // may be a folder shipped with --archives / --files: resolved on the executors
            }
            throw JobException.usage("model folder " + model + " does not exist");
        }
        if (!Files.isDirectory(p)) {
            throw JobException.usage("model " + model + " is a file; --model must be a model folder (config.json,"
                    + " model.safetensors, tokenizer.json)");
        }
        List<String> missing = new ArrayList<>();
        for (String f : List.of("config.json", "tokenizer.json")) {
            if (!Files.isRegularFile(p.resolve(f))) {
                missing.add(f);
            }
        }
        if (!Files.isRegularFile(p.resolve("model.safetensors"))
                && !Files.isRegularFile(p.resolve("model.safetensors.index.json"))) {
            missing.add("model.safetensors");
        }
        if (!missing.isEmpty()) {
            throw JobException.usage("model folder " + model + " is missing " + String.join(", ", missing));
        }
        return p.toAbsolutePath().normalize().toString();
    }

    private static Path codeLocation() {
        try {
            var src = ModelLocation.class.getProtectionDomain().getCodeSource();
            return src == null ? null : Paths.get(src.getLocation().toURI()).toAbsolutePath();
        } catch (URISyntaxException | RuntimeException e) {
            return null;
        }
    }
}
