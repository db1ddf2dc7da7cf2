package dev.ppsd.udf;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import scala.Tuple2;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Turns the {@code model} setting into a local folder on this executor. Weights are read from where every
 * executor can see them, never broadcast or serialised:
 * <ul>
 *   <li>a bare name (no {@code /}, no scheme) of a folder shipped with {@code SparkContext.addFile(dir, true)}
 *       or {@code --archives model.tgz#name}: {@code SparkFiles.get(name)} when it exists there, else the name
 *       relative to the working directory (where YARN unpacks archives);</li>
 *   <li>a local path or {@code file:} URI: used in place (it must exist on every executor, e.g. a shared mount);</li>
 *   <li>any other Hadoop FileSystem URI ({@code hdfs://}, {@code s3a://}, {@code abfs://}, ...): copied once per
 *       JVM into a temp folder (deleted when the JVM exits); {@code spark.hadoop.*} confs configure the FS.</li>
 * </ul>
 */
public final class ModelPaths {
    private static final Map<String, Path> COPIES = new ConcurrentHashMap<>();

    private ModelPaths() {
    }

    /** The local folder for {@code location}; a Hadoop URI is copied on the first call of this JVM only. */
    public static Path localize(String location) {
        URI uri = uriOf(location);
        if (uri != null && !uri.getScheme().equals("file")) {
            return COPIES.computeIfAbsent(location, l -> copyFromHadoop(uri));
        }
        if (uri == null && isBareName(location)) {
            Path shipped = sparkFile(location);
            if (shipped != null) {
                return shipped;
            }
        }
        Path p = uri != null ? Paths.get(uri) : Paths.get(location);
        if (!Files.exists(p)) {
            throw new IllegalArgumentException("model folder " + location + " does not exist on " + host()
                    + ": use a path every executor can read, a Hadoop URI (hdfs://, s3a://, ...) or ship it with"
                    + " SparkContext.addFile(dir, true) / --archives and pass its name");
        }
        return p.toAbsolutePath();
    }

    /** Copies the folder (or file) at a Hadoop FileSystem URI into a fresh local temp folder. */
    static Path copyFromHadoop(URI uri) {
        try {
            Configuration conf = hadoopConf();
            FileSystem fs = FileSystem.get(uri, conf);
            org.apache.hadoop.fs.Path src = new org.apache.hadoop.fs.Path(uri);
            Path dir = Files.createTempDirectory("ppsd-model-");
            deleteOnExit(dir);
            Path dst = dir.resolve(src.getName().isEmpty() ? "model" : src.getName());
            // useRawLocalFileSystem: no .crc side files next to the weights
            fs.copyToLocalFile(false, src, new org.apache.hadoop.fs.Path(dst.toUri()), true);
            return dst;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy model " + uri + " to local disk on " + host() + ": "
                    + e.getMessage(), e);
        }
    }

    /** A Hadoop conf on an executor: the defaults plus the job's {@code spark.hadoop.*} confs. */
    public static Configuration hadoopConf() {
        Configuration conf = new Configuration();
        SparkEnv env = SparkEnv.get();
        if (env != null) {
            for (Tuple2<String, String> kv : env.conf().getAll()) {
                if (kv._1().startsWith("spark.hadoop.")) {
                    conf.set(kv._1().substring("spark.hadoop.".length()), kv._2());
                }
            }
        }
        return conf;
    }

    /** A URI with a scheme of at least two letters (so {@code C:\x} stays a path), else null. */
    public static URI uriOf(String location) {
        int colon = location.indexOf(':');
        if (colon < 2) {
            return null;
        }
        try {
            URI u = new URI(location);
            return u.getScheme() != null && u.getScheme().length() >= 2 ? u : null;
        } catch (URISyntaxException e) {
            return null;
        }
    }

    private static boolean isBareName(String location) {
        return !location.contains("/") && !location.contains(File.separator) && !location.equals(".")
                && !location.equals("..");
    }

    private static Path sparkFile(String name) {
        try {
            if (SparkEnv.get() == null) {
                return null;
            }
            Path p = Paths.get(SparkFiles.get(name));
            return Files.exists(p) ? p : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String host() {
        try {
            return "host " + InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "this executor";
        }
    }

    private static void deleteOnExit(Path dir) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTreeQuietly(dir), "ppsd-model-cleanup"));
    }

    /**
     * Deletes {@code dir} and everything under it, as far as it can: a temp folder left behind is removed with the
     * container or the tmp cleaner.
     */
    public static void deleteTreeQuietly(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }
}
