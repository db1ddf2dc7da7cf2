package dev.ppsd.job;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The scan that finds a CSV quote that never closes ({@link JobInput#unclosedQuoteLine}) follows the job's CSV reader:
 * each case here was read with Spark 3.5.9 and the job's options, and the cases with a line number are exactly those
 * Spark read as one value running to the end of the file.
 */
class CsvQuoteScanTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '\'', textBlock = """
            closed quotes, doubled quotes, separators and line breaks inside quotes | id,prompt\\n1,"a ""b"", c"\\n2,"x\\ny"\\n | 0
            a quote inside an unquoted field is a character                         | id,prompt\\n1,a"b\\n2,c\\n               | 0
            a quote after a space is a character (no leading-space trim)            | id,prompt\\n1, "a,b\\n2,c\\n             | 0
            text after a closing quote ends the quoting                             | id,prompt\\n1,"a"b\\n2,"c" \\n            | 0
            a quote that never closes                                               | id,prompt\\n1,a\\n2,"open\\n3,x\\n         | 3
            a doubled quote at the end does not close                               | id,prompt\\n1,"a""\\n2,d\\n               | 2
            a quote closing a field in a later record is still inside the first     | id,prompt\\n1,"a""b\\n2,b"\\n3,"c\\n       | 4
            CRLF lines count once                                                   | id,prompt\\r\\n1,x\\r\\n2,"y\\r\\n          | 3
            CR lines count                                                          | id,prompt\\r1,"x\\r2,y\\r                 | 2
            the header can open it                                                  | "id,prompt\\n1,x\\n                      | 1
            """)
    void findsTheLineWhereAQuotedFieldOpensAndNeverCloses(String what, String csv, long line) throws IOException {
        String text = csv.replace("\\r", "\r").replace("\\n", "\n");
        assertEquals(line, JobInput.unclosedQuoteLine(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8))),
                what);
    }
}
