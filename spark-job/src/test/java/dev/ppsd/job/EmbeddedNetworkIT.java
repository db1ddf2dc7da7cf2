package dev.ppsd.job;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded job ({@code bin/ppsd-job} without {@code --master}: Spark in local mode in the launcher's JVM) sends
 * nothing off the machine. Runs the launcher on what {@code mvn package} built, on the sample prompts with the
 * bundled model:
 * <ul>
 *   <li>under {@code strace -f -e trace=connect}: every socket the JVM and its children connect goes to loopback (or
 *       is a local socket); no DNS query either. Spark used to look up the host's LAN address by reverse DNS (its
 *       address discovery) even with {@code spark.driver.host} set. The run is in its own UTS namespace with the host
 *       name {@code localhost}, so that resolving the machine's own name (log4j asks for it) stays in
 *       {@code /etc/hosts} whatever this machine's name is, while its LAN interfaces stay visible to Spark;</li>
 *   <li>in a network namespace with nothing but loopback ({@code unshare -n}): the job runs as usual.</li>
 * </ul>
 * Needs root (unshare) and strace: without them it is skipped saying so, except under CI ({@code CI=true}), where
 * it fails ({@code .ci/run} installs strace). A failsafe test: it runs after {@code package} ({@link EmbeddedJobRuns}).
 */
class EmbeddedNetworkIT {
    /** An address of a connect(2) in strace's output: IPv4 or IPv6. */
    static final Pattern ADDRESS = Pattern.compile("inet_addr\\(\"([^\"]+)\"\\)|inet_pton\\(AF_INET6, \"([^\"]+)\"");

    static EmbeddedJobRuns runs;

    @BeforeAll
    static void launcherAndTools() throws Exception {
        runs = EmbeddedJobRuns.open("it-embedded-network", "the embedded job's network use", new String[][] {
            {"strace is not installed (apt-get install strace)", "strace", "-V"},
            {"unshare -n -u does not work here (needs root)", "unshare", "-n", "-u", "true"}});
    }

    static boolean loopback(String address) {
        return address.startsWith("127.") || address.equals("::1") || address.startsWith("::ffff:127.")
                || address.equals("0.0.0.0") || address.equals("::");
    }

    @Test
    void theEmbeddedJobConnectsToNothingButLoopback() throws Exception {
        Path trace = runs.work.resolve("connect.trace");
        Files.deleteIfExists(trace);
        runs.runJob("strace", List.of("unshare", "-u", "sh", "-c",
                "hostname localhost && exec strace -f -qq -e trace=connect -o \"$0\" \"$@\"", trace.toString()));
        List<String> outside = new ArrayList<>();
        int inet = 0;
        for (String line : Files.readAllLines(trace)) {
            if (!line.contains("connect(") || !line.contains("sa_family=AF_INET")) {
                continue; // local (AF_UNIX, e.g. nscd) and AF_UNSPEC (a UDP socket's disconnect) sockets
            }
            inet++;
            Matcher m = ADDRESS.matcher(line);
            String address = m.find() ? (m.group(1) != null ? m.group(1) : m.group(2)) : null;
            if (address == null || !loopback(address)) {
                outside.add(line.strip());
            }
        }
        assertTrue(outside.isEmpty(), "the embedded job connected off the machine (" + outside.size() + " of " + inet
                + " inet connects; strace log " + trace + "):\n  " + String.join("\n  ", outside));
        System.out.printf("[EmbeddedNetworkIT] strace: %d inet connects, all to loopback%n", inet);
    }

    @Test
    void theEmbeddedJobRunsWithNothingButLoopback() throws Exception {
        // a network namespace of its own: only lo, brought up when ip(8) is there
        runs.runJob("netns", List.of("unshare", "-n", "sh", "-c", "ip link set lo up 2>/dev/null; exec \"$0\" \"$@\""));
        System.out.println("[EmbeddedNetworkIT] unshare -n: the job ran on loopback alone");
    }
}
