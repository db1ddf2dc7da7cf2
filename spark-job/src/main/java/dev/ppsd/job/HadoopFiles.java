package dev.ppsd.job;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** Small Hadoop FileSystem helpers: every path of the job may be local, hdfs://, s3a://, ... */
final class HadoopFiles {
    private HadoopFiles() {
    }

    /** A Hadoop conf on an executor: the defaults plus the job's {@code spark.hadoop.*} confs. */
    static Configuration executorConf() {
        return dev.ppsd.udf.ModelPaths.hadoopConf();
    }

    /** Whether {@code p} or a folder between {@code base} and it is hidden from readers (name starts with _ or .). */
    static boolean isHidden(Path base, Path p) {
        String root = base.toUri().getPath();
        for (Path x = p; x != null && !x.toUri().getPath().equals(root); x = x.getParent()) {
            String n = x.getName();
            if (n.startsWith("_") || n.startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    /** Writes a small text file so that it appears whole: written beside it, then renamed over it. */
    static void writeAtomically(FileSystem fs, Path file, String text) throws IOException {
        Path tmp = new Path(file.getParent(), "." + file.getName() + ".tmp");
        try (FSDataOutputStream out = fs.create(tmp, true)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        if (fs.exists(file)) {
            fs.delete(file, false);
        }
        if (!fs.rename(tmp, file)) {
            throw new IOException("cannot rename " + tmp + " to " + file);
        }
    }

    /** The text of a small file. */
    static String read(FileSystem fs, Path file) throws IOException {
        try (FSDataInputStream in = fs.open(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
