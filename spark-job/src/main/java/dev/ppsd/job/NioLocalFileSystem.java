package dev.ppsd.job;

import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Hadoop's local file system ({@code file:}, with its {@code .crc} side files), except that it sets a file's or
 * folder's permissions in the JVM ({@code java.nio}) where Hadoop without its native library starts a {@code chmod}
 * process for each: every file a job creates and every folder it makes with a mode. The embedded job uses it for
 * {@code file:} paths ({@code spark.hadoop.fs.file.impl}, which a {@code --conf} may set otherwise). A mode that
 * {@code java.nio} cannot express (the sticky, setuid and setgid bits) still goes to {@code chmod}.
 */
public final class NioLocalFileSystem extends LocalFileSystem {
    /** Hadoop creates file systems by their no-argument constructor. */
    public NioLocalFileSystem() {
        super(new Raw());
    }

    /** The raw file system under the checksums, where Hadoop sets the permissions. */
    static final class Raw extends RawLocalFileSystem {
        private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");

        @Override
        public void setPermission(Path p, FsPermission permission) throws IOException {
            if (!POSIX || (permission.toShort() & ~0777) != 0) {
                super.setPermission(p, permission);
                return;
            }
            Files.setPosixFilePermissions(pathToFile(p).toPath(), PosixFilePermissions.fromString(
                    permission.getUserAction().SYMBOL + permission.getGroupAction().SYMBOL
                            + permission.getOtherAction().SYMBOL));
        }
    }
}
