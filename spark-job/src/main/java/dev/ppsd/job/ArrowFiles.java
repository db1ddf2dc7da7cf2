package dev.ppsd.job;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.api.java.function.VoidFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.execution.arrow.ArrowWriter;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import org.apache.spark.sql.vectorized.ArrowColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.apache.spark.util.TaskCompletionListener;
import scala.Function1;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SeekableByteChannel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.UUID;

/**
 * Arrow IPC files ({@code .arrow}, the Arrow "file" format with a footer; Feather v2 is the same) for Spark, which
 * has no Arrow file source. Reading: the schema comes from the first file's footer on the driver
 * ({@link ArrowUtils#fromArrowSchema}); each file is one partition, read on an executor with
 * {@link ArrowFileReader} batch by batch and turned into rows through Spark's own {@link ArrowColumnVector}, so every
 * type Spark maps from Arrow is read as Spark reads it. Writing: each task writes its partition with Spark's
 * {@link ArrowWriter} to a temp file and renames it into place (one whole file per partition or none, the task
 * commit), then the driver writes {@code _SUCCESS} (the job commit) as Spark's committer does.
 */
final class ArrowFiles {
    /** Rows per Arrow record batch written. */
    static final int ROWS_PER_BATCH = 4096;
    private static final String TEMP = "_temporary";

    private ArrowFiles() {
    }

    /**
     * The Arrow files of {@code paths} (files, folders or globs): files as given or matched, the {@code .arrow} files
     * of folders ({@link JobInput#visibleFiles}), in name order per path.
     */
    static List<String> list(Configuration conf, List<String> paths) throws IOException {
        List<String> out = new ArrayList<>();
        for (String p : paths) {
            Path path = new Path(p);
            FileSystem fs = path.getFileSystem(conf);
            for (Path f : JobInput.visibleFiles(fs, path, f -> JobFormat.ofFileName(f.getName()) == JobFormat.ARROW)) {
                out.add(fs.makeQualified(f).toString());
            }
        }
        return out;
    }

    /** The Spark schema of an Arrow file (from its footer). */
    static StructType schema(Configuration conf, String file) throws IOException {
        try (BufferAllocator alloc = ArrowUtils.rootAllocator().newChildAllocator("ppsd-arrow-schema", 0, Long.MAX_VALUE);
                ArrowFileReader r = new ArrowFileReader(open(conf, file), alloc)) {
            return ArrowUtils.fromArrowSchema(r.getVectorSchemaRoot().getSchema());
        }
    }

    /** Reads the Arrow files under {@code paths} as one Dataset, one partition per file. */
    static Dataset<Row> read(SparkSession spark, List<String> paths) {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        List<String> files;
        StructType schema;
        try {
            files = list(conf, paths);
            if (files.isEmpty()) {
                throw JobException.usage("input " + String.join(", ", paths) + " holds no .arrow files");
            }
            schema = schema(conf, files.get(0));
        } catch (Exception e) {
            if (e instanceof JobException je) {
                throw je;
            }
            throw JobException.usage("cannot read input " + String.join(", ", paths) + " as arrow: " + e.getMessage());
        }
        JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext())
                .parallelize(files, files.size())
                .flatMap(new ReadFile(schema));
        return spark.createDataFrame(rows, schema);
    }

    /** One Arrow file to rows, on an executor; a file whose schema differs from the first one's fails the task. */
    private static final class ReadFile implements FlatMapFunction<String, Row> {
        private final StructType schema;

        ReadFile(StructType schema) {
            this.schema = schema;
        }

        @Override
        public Iterator<Row> call(String file) throws IOException {
            BufferAllocator alloc = ArrowUtils.rootAllocator().newChildAllocator("ppsd-arrow-read", 0, Long.MAX_VALUE);
            ArrowFileReader reader = new ArrowFileReader(open(HadoopFiles.executorConf(), file), alloc);
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            StructType got = ArrowUtils.fromArrowSchema(root.getSchema());
            if (!got.equals(schema)) {
                reader.close();
                alloc.close();
                throw new IllegalArgumentException("arrow file " + file + " has schema " + got.simpleString()
                        + " but the first input file has " + schema.simpleString());
            }
            Function1<Object, Object> toRow = CatalystTypeConverters.createToScalaConverter(schema);
            TaskContext ctx = TaskContext.get();
            Runnable close = () -> {
                try {
                    reader.close();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } finally {
                    alloc.close();
                }
            };
            if (ctx != null) {
                ctx.addTaskCompletionListener((TaskCompletionListener) c -> close.run());
            }
            return new Iterator<>() {
                private final List<Row> batch = new ArrayList<>();
                private int next;
                private boolean done;

                @Override
                public boolean hasNext() {
                    while (next == batch.size() && !done) {
                        batch.clear();
                        next = 0;
                        try {
                            if (!reader.loadNextBatch()) {
                                done = true;
                                if (ctx == null) {
                                    close.run();
                                }
                                break;
                            }
                        } catch (IOException e) {
                            throw new UncheckedIOException("cannot read arrow file " + file, e);
                        }
                        List<FieldVector> vectors = root.getFieldVectors();
                        ColumnVector[] columns = new ColumnVector[vectors.size()];
                        for (int i = 0; i < columns.length; i++) {
                            columns[i] = new ArrowColumnVector(vectors.get(i));
                        }
                        // rows of a ColumnarBatch are views that the next row overwrites: convert each at once
                        Iterator<InternalRow> it = new ColumnarBatch(columns, root.getRowCount()).rowIterator();
                        while (it.hasNext()) {
                            batch.add((Row) toRow.apply(it.next()));
                        }
                    }
                    return next < batch.size();
                }

                @Override
                public Row next() {
                    if (!hasNext()) {
                        throw new NoSuchElementException();
                    }
                    return batch.get(next++);
                }
            };
        }
    }

    /**
     * Writes {@code df} into the new folder {@code dir}: one {@code part-<partition>-<uuid>.arrow} per non-empty
     * partition (renamed into place when complete), then {@code _SUCCESS}.
     */
    static void write(Dataset<Row> df, String dir) {
        SparkSession spark = df.sparkSession();
        String timeZone = spark.sessionState().conf().sessionLocalTimeZone();
        String tag = UUID.randomUUID().toString();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path out = new Path(dir);
        try {
            FileSystem fs = out.getFileSystem(conf);
            if (fs.exists(out)) {
                throw new IllegalStateException("path " + dir + " already exists");
            }
            fs.mkdirs(new Path(out, TEMP));
            df.queryExecution().toRdd().toJavaRDD()
                    .foreachPartition(new WritePartition(df.schema(), timeZone, out.toString(), tag));
            fs.delete(new Path(out, TEMP), true);
            fs.create(new Path(out, "_SUCCESS"), false).close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write arrow files to " + dir, e);
        }
    }

    /** A task's Arrow file: written under _temporary, renamed into the folder when complete. */
    private static final class WritePartition implements VoidFunction<Iterator<InternalRow>> {
        private final StructType schema;
        private final String timeZone;
        private final String dir;
        private final String tag;

        WritePartition(StructType schema, String timeZone, String dir, String tag) {
            this.schema = schema;
            this.timeZone = timeZone;
            this.dir = dir;
            this.tag = tag;
        }

        @Override
        public void call(Iterator<InternalRow> rows) throws IOException {
            if (!rows.hasNext()) {
                return; // like Spark's writers: no file for an empty partition
            }
            TaskContext ctx = TaskContext.get();
            int partition = ctx == null ? 0 : ctx.partitionId();
            long attempt = ctx == null ? 0 : ctx.taskAttemptId();
            Path out = new Path(dir);
            FileSystem fs = out.getFileSystem(HadoopFiles.executorConf());
            Path tmp = new Path(new Path(out, TEMP), String.format("part-%05d-%s-%d.arrow", partition, tag, attempt));
            Path dst = new Path(out, String.format("part-%05d-%s.arrow", partition, tag));
            Schema arrowSchema = ArrowUtils.toArrowSchema(schema, timeZone, true, false);
            try (BufferAllocator alloc = ArrowUtils.rootAllocator().newChildAllocator("ppsd-arrow-write", 0,
                    Long.MAX_VALUE);
                    VectorSchemaRoot root = VectorSchemaRoot.create(arrowSchema, alloc);
                    FSDataOutputStream os = fs.create(tmp, true);
                    ArrowFileWriter w = new ArrowFileWriter(root, null, Channels.newChannel(os))) {
                ArrowWriter batch = ArrowWriter.create(root);
                w.start();
                int n = 0;
                while (rows.hasNext()) {
                    batch.write(rows.next());
                    if (++n == ROWS_PER_BATCH) {
                        batch.finish();
                        w.writeBatch();
                        batch.reset();
                        n = 0;
                    }
                }
                if (n > 0) {
                    batch.finish();
                    w.writeBatch();
                }
                w.end();
            }
            // task commit: the whole file appears at once; a second attempt of the partition finds it there
            if (!fs.rename(tmp, dst)) {
                fs.delete(tmp, false);
                if (!fs.exists(dst)) {
                    throw new IOException("cannot rename " + tmp + " to " + dst);
                }
            }
        }
    }

    private static SeekableByteChannel open(Configuration conf, String file) throws IOException {
        Path p = new Path(file);
        FileSystem fs = p.getFileSystem(conf);
        return new HadoopChannel(fs.open(p), fs.getFileStatus(p).getLen());
    }

    /** A read-only {@link SeekableByteChannel} over a Hadoop input stream, for ArrowFileReader's footer seeks. */
    private static final class HadoopChannel implements SeekableByteChannel {
        private final FSDataInputStream in;
        private final long size;
        private boolean open = true;

        HadoopChannel(FSDataInputStream in, long size) {
            this.in = in;
            this.size = size;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (!open) {
                throw new ClosedChannelException();
            }
            int want = dst.remaining();
            if (want == 0) {
                return 0;
            }
            byte[] buf = new byte[Math.min(want, 1 << 16)];
            int n = in.read(buf, 0, buf.length);
            if (n > 0) {
                dst.put(buf, 0, n);
            }
            return n;
        }

        @Override
        public long position() throws IOException {
            return in.getPos();
        }

        @Override
        public SeekableByteChannel position(long p) throws IOException {
            in.seek(p);
            return this;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public int write(ByteBuffer src) {
            throw new UnsupportedOperationException("read-only");
        }

        @Override
        public SeekableByteChannel truncate(long s) {
            throw new UnsupportedOperationException("read-only");
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() throws IOException {
            open = false;
            in.close();
        }
    }
}
