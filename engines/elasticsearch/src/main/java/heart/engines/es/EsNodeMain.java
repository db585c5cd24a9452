package heart.engines.es;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.HubNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts ONE Elasticsearch node in this JVM. A cluster of N nodes is N JVMs (see start.sh).
 *
 * Options (--key=value, else environment variable, else default):
 *   --nodes=N           ES_NODES            cluster size, 1 or 3            (1)
 *   --index=I           ES_NODE_INDEX       this node, 0..N-1               (0)
 *   --http-port=P       ES_HTTP_PORT        HTTP port of node 0; node I: P+I       (9250)
 *   --transport-port=P  ES_TRANSPORT_PORT   transport port of node 0; node I: P+I (9350)
 *   --home=DIR          ES_HOME_DIR         base dir; node I uses DIR/node-I (target/es-home)
 *   --cluster=NAME      ES_CLUSTER_NAME     cluster name                    (heart-hub-test)
 */
public final class EsNodeMain {
    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        int nodes = Integer.parseInt(opt(opts, "nodes", "ES_NODES", "1"));
        int index = Integer.parseInt(opt(opts, "index", "ES_NODE_INDEX", "0"));
        int httpPort = Integer.parseInt(opt(opts, "http-port", "ES_HTTP_PORT", "9250"));
        int transportPort = Integer.parseInt(opt(opts, "transport-port", "ES_TRANSPORT_PORT", "9350"));
        Path homeBase = Path.of(opt(opts, "home", "ES_HOME_DIR", "target/es-home")).toAbsolutePath();
        String cluster = opt(opts, "cluster", "ES_CLUSTER_NAME", "heart-hub-test");
        if (nodes < 1 || index < 0 || index >= nodes) throw new IllegalArgumentException("bad --nodes/--index: " + nodes + "/" + index);

        // netty must not set the processor count itself: the node does (node.processors)
        System.setProperty("es.set.netty.runtime.available.processors", "false");

        String nodeName = "node-" + index;
        Path home = homeBase.resolve(nodeName);
        Files.createDirectories(home.resolve("config"));

        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("cluster.name", cluster)
            .put("node.name", nodeName)
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort + index)
            .put("transport.port", transportPort + index)
            .put("node.processors", 1)
            .put("indices.breaker.total.use_real_memory", false)
            .put("cluster.routing.allocation.disk.threshold_enabled", true)
            .put("cluster.routing.allocation.disk.watermark.low", "1b")
            .put("cluster.routing.allocation.disk.watermark.high", "1b")
            .put("cluster.routing.allocation.disk.watermark.flood_stage", "1b")
            .put("action.destructive_requires_name", false);
        if (nodes == 1) {
            settings.put("discovery.type", "single-node");
        } else {
            List<String> seeds = new ArrayList<>();
            List<String> masters = new ArrayList<>();
            for (int i = 0; i < nodes; i++) {
                seeds.add("127.0.0.1:" + (transportPort + i));
                masters.add("node-" + i);
            }
            settings.putList("discovery.seed_hosts", seeds).putList("cluster.initial_master_nodes", masters);
        }
        Settings built = settings.build();

        // route the server's logging API to log4j; log4j itself reads log4j2.properties from the classpath
        LogConfigurator.configureESLogging();
        LogConfigurator.setNodeName(nodeName);

        long start = System.nanoTime();
        Node node = new HubNode(new Environment(built, null), List.of(Netty4Plugin.class));
        node.start();
        System.out.printf("heart-es: %s of cluster %s started in %.1f s (http 127.0.0.1:%d, transport 127.0.0.1:%d, pid %d)%n",
            nodeName, cluster, (System.nanoTime() - start) / 1e9, httpPort + index, transportPort + index, ProcessHandle.current().pid());

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "heart-es-shutdown"));
        stopped.await();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (String arg : args) {
            if (!arg.startsWith("--") || !arg.contains("=")) throw new IllegalArgumentException("expected --key=value, got " + arg);
            int eq = arg.indexOf('=');
            opts.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        return opts;
    }

    private static String opt(Map<String, String> opts, String key, String env, String fallback) {
        String value = opts.get(key);
        if (value == null || value.isEmpty()) value = System.getenv(env);
        return value == null || value.isEmpty() ? fallback : value;
    }
}
