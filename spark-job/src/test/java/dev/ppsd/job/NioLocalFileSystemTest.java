package dev.ppsd.job;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link NioLocalFileSystem} gives files and folders the modes Hadoop's own {@code LocalFileSystem} gives them (the
 * oracle: it runs {@code chmod}): files created with a mode (and their {@code .crc} side files), folders made with
 * one, modes set afterwards, including the bits {@code java.nio} cannot set (sticky, setgid), which still go to
 * {@code chmod}.
 */
class NioLocalFileSystemTest {
    @TempDir
    Path tmp;

    private static FileSystem open(FileSystem fs) throws IOException {
        fs.initialize(URI.create("file:///"), new Configuration());
        return fs;
    }

    private static String mode(Path p) throws IOException {
        return Integer.toOctalString((Integer) Files.getAttribute(p, "unix:mode") & 07777);
    }

    /** What each step leaves under {@code root}: {@code name mode} lines, in order. */
    private static List<String> steps(FileSystem fs, Path root) throws IOException {
        List<String> modes = new ArrayList<>();
        int i = 0;
        for (short m : new short[] {0644, 0600, 0640, 0755, 0700, 0777, 0400}) {
            FsPermission p = new FsPermission(m);
            org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(root.resolve("file" + i).toUri());
            try (FSDataOutputStream out = fs.create(file, p, true, 4096, (short) 1, 1 << 20, null)) {
                out.write(1);
            }
            modes.add("file" + i + " " + mode(root.resolve("file" + i)));
            modes.add(".file" + i + ".crc " + mode(root.resolve(".file" + i + ".crc")));
            org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(root.resolve("dir" + i + "/sub").toUri());
            assertTrue(fs.mkdirs(dir, p));
            modes.add("dir" + i + " " + mode(root.resolve("dir" + i)) + " sub "
                    + mode(root.resolve("dir" + i + "/sub")));
            i++;
        }
        org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(root.resolve("file0").toUri());
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(root.resolve("dir0").toUri());
        for (short m : new short[] {0600, 0755, 01777, 02750, 0644}) {
            fs.setPermission(m >= 01000 ? dir : file, new FsPermission(m));
            modes.add("set " + Integer.toOctalString(m) + ": " + mode(root.resolve(m >= 01000 ? "dir0" : "file0")));
        }
        return modes;
    }

    @Test
    void modesAreHadoopsWithoutChmod() throws IOException {
        Path nio = Files.createDirectories(tmp.resolve("nio"));
        Path hadoop = Files.createDirectories(tmp.resolve("hadoop"));
        try (FileSystem a = open(new NioLocalFileSystem()); FileSystem b = open(new LocalFileSystem())) {
            List<String> expected = steps(b, hadoop);
            assertEquals(expected, steps(a, nio));
            assertTrue(expected.contains("set 1777: 1777") && expected.contains("set 600: 600"), expected.toString());
        }
    }
}
