package dev.ppsd.job;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * What identifies a model's weights without reading them: a SHA-256 over its {@code config.json},
 * {@code generation_config.json}, the header (names, dtypes, shapes, offsets) and size of every {@code .safetensors}
 * file, and the same for every {@code exit_head*} folder. A resumed job whose model changed behind the same path
 * (other weights, another layer count) would mix two models' rows: the fingerprint is part of the output's
 * identity. Read through Hadoop's FileSystem, so a local folder and an {@code hdfs://} / {@code s3a://} model alike;
 * a folder shipped by name (--archives) cannot be read on the driver: its fingerprint is its name.
 */
final class ModelFingerprint {
    private ModelFingerprint() {
    }

    /** The fingerprint of the model at {@code location} (a path, a URI, or a shipped name). */
    static String of(String location, Configuration conf) {
        try {
            URI uri = dev.ppsd.udf.ModelPaths.uriOf(location);
            Path root = uri != null ? new Path(uri) : new Path(new java.io.File(location).getAbsoluteFile().toURI());
            FileSystem fs = root.getFileSystem(conf);
            if (!fs.exists(root)) {
                return "shipped:" + location;
            }
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            add(fs, root, md);
            FileStatus[] heads = fs.globStatus(new Path(root, "exit_head*"));
            if (heads != null) {
                Arrays.sort(heads);
                for (FileStatus h : heads) {
                    if (h.isDirectory()) {
                        md.update(h.getPath().getName().getBytes(StandardCharsets.UTF_8));
                        add(fs, h.getPath(), md);
                    }
                }
            }
            return "sha256:" + HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw JobException.usage("cannot read model " + location + ": " + e.getMessage());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void add(FileSystem fs, Path dir, MessageDigest md) throws IOException {
        for (String f : new String[] {"config.json", "generation_config.json"}) {
            Path p = new Path(dir, f);
            if (fs.exists(p)) {
                try (FSDataInputStream in = fs.open(p)) {
                    md.update(in.readAllBytes());
                }
            }
        }
        FileStatus[] files = fs.listStatus(dir, p -> p.getName().endsWith(".safetensors"));
        Arrays.sort(files);
        for (FileStatus f : files) {
            md.update(f.getPath().getName().getBytes(StandardCharsets.UTF_8));
            md.update(ByteBuffer.allocate(8).putLong(f.getLen()).array());
            try (FSDataInputStream in = fs.open(f.getPath())) {
                byte[] len = new byte[8];
                in.readFully(len);
                long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (n > 0 && n <= 100_000_000L && 8 + n <= f.getLen()) {
                    byte[] header = new byte[(int) n];
                    in.readFully(header);
                    md.update(header);
                }
            }
        }
    }
}
