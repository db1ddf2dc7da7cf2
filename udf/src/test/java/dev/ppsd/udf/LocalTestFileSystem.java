package dev.ppsd.udf;

import org.apache.hadoop.fs.RawLocalFileSystem;

import java.net.URI;

/** The local disk under another Hadoop scheme ({@code ppsdtest:///tmp/x}), standing in for hdfs:// or s3a://. */
public class LocalTestFileSystem extends RawLocalFileSystem {
    private static final URI NAME = URI.create(TestSpark.TEST_SCHEME + ":///");

    @Override
    public URI getUri() {
        return NAME;
    }

    @Override
    public String getScheme() {
        return TestSpark.TEST_SCHEME;
    }
}
