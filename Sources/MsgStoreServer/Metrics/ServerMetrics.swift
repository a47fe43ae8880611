import CoreMetrics
import Messaging
import Prometheus
import Synchronization

/// The server's metrics, exposed at `GET /metrics` in Prometheus's text
/// format by swift-prometheus (`docs/operations.md` lists them all):
///
/// - HTTP: `msgstore_http_requests_total{method,route,status}`,
///   `msgstore_http_request_duration_seconds{method,route}` (histogram),
///   `msgstore_http_connections_open`, `msgstore_realtime_waiters`;
/// - the fan-out worker: messages, copies, batches, retries, lease
///   extensions and losses, dead letters, and `msgstore_fanout_lag_seconds`
///   (histogram: acceptance to last copy, recorded through swift-metrics);
/// - the fan-out queue: depth, in flight, oldest age, redeliveries, dead letters;
/// - the storage's own figures (``MessagingStorage/metricsSnapshot()``: the
///   engine's commits, syncs, flushes, compactions, levels, caches, files).
///
/// Figures that live elsewhere (storage, queue, worker) are read when
/// `/metrics` is scraped; totals become Prometheus counters that grow by
/// the difference since the last scrape.
public final class ServerMetrics: Sendable {
    /// Where every metric lives; ``exposition(storage:worker:connections:)`` renders it.
    public let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory writing into ``registry`` (for ``FanOutWorker`` and
    /// anything else using the swift-metrics API; `serve` also bootstraps it).
    public let factory: PrometheusMetricsFactory
    private let lastTotals = Mutex<[String: Double]>([:])
    private let requestDurationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// Metrics in a registry of their own (a process's server) or a given one.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["msgstore_fanout_lag_seconds"] = [
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(300),
        ]
        self.factory = factory
    }

    /// Counts one answered request and its duration. `route` is the matched
    /// route's pattern (`/messages/user/{recipient}`), never a raw path, so
    /// the number of series stays bounded.
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(name: "msgstore_http_requests_total",
                             labels: [("method", method), ("route", route), ("status", String(status))],
                             help: "HTTP requests answered, by method, route pattern and status.").increment()
        registry.makeDurationHistogram(name: "msgstore_http_request_duration_seconds", labels: [("method", method), ("route", route)],
                                       buckets: requestDurationBuckets,
                                       help: "Time from a request's head to its response, by method and route pattern.").record(duration)
    }

    /// Refreshes the figures read from the storage, queue, worker and
    /// connections, then renders every metric in the text format.
    public func exposition(storage: any MessagingStorage, worker: FanOutWorker, connections: ConnectionCounter?,
                           notifier: InboxNotifier? = nil) async -> [UInt8] {
        var figures = await storage.metricsSnapshot()
        if let queue = try? await storage.fanOutQueueStatistics() {
            figures += [
                StorageMetric(name: "msgstore_fanout_queue_depth", help: "Accepted group messages not fully delivered.",
                              kind: .gauge, value: Double(queue.depth)),
                StorageMetric(name: "msgstore_fanout_queue_in_flight", help: "Group messages leased to a fan-out consumer now.",
                              kind: .gauge, value: Double(queue.inFlight)),
                StorageMetric(name: "msgstore_fanout_queue_oldest_age_seconds",
                              help: "Age of the oldest group message not fully delivered (0 when none).",
                              kind: .gauge, value: Double(queue.oldestAgeMicros) / 1e6),
                StorageMetric(name: "msgstore_fanout_queue_dead_letters", help: "Group messages parked in the dead-letter queue.",
                              kind: .gauge, value: Double(queue.deadLetters)),
                StorageMetric(name: "msgstore_fanout_queue_dead_lettered_total", help: "Group messages moved to the dead-letter queue.",
                              kind: .counter, value: Double(queue.deadLetteredTotal)),
                StorageMetric(name: "msgstore_fanout_queue_redelivered_total",
                              help: "Deliveries to a consumer of a group message delivered before (lease expired, restart).",
                              kind: .counter, value: Double(queue.redeliveredTotal)),
            ]
        }
        let work = worker.statistics
        figures += [
            StorageMetric(name: "msgstore_fanout_messages_total", help: "Group messages fully delivered by this process.",
                          kind: .counter, value: Double(work.messagesDelivered)),
            StorageMetric(name: "msgstore_fanout_copies_total", help: "Inbox copies written by the fan-out.",
                          kind: .counter, value: Double(work.copiesWritten)),
            StorageMetric(name: "msgstore_fanout_batches_total", help: "Atomic fan-out batches written.",
                          kind: .counter, value: Double(work.batchesWritten)),
            StorageMetric(name: "msgstore_fanout_retries_total", help: "Transient fan-out failures retried.",
                          kind: .counter, value: Double(work.transientFailures)),
            StorageMetric(name: "msgstore_fanout_lease_extensions_total", help: "Fan-out leases extended during long fan-outs.",
                          kind: .counter, value: Double(work.leaseExtensions)),
            StorageMetric(name: "msgstore_fanout_leases_lost_total", help: "Fan-out leases lost to another consumer.",
                          kind: .counter, value: Double(work.leasesLost)),
        ]
        if let connections {
            figures.append(StorageMetric(name: "msgstore_http_connections_open", help: "Open HTTP connections.",
                                         kind: .gauge, value: Double(connections.openConnections)))
            figures.append(StorageMetric(name: "msgstore_http_connections_refused_total",
                                         help: "Connections closed at once because the server was at --max-connections.",
                                         kind: .counter, value: Double(connections.refusedConnections)))
        }
        if let notifier {
            figures.append(StorageMetric(name: "msgstore_realtime_waiters",
                                         help: "Clients waiting for messages now: long polls and event streams (--max-waiters caps them).",
                                         kind: .gauge, value: Double(notifier.waiterCount)))
        }
        apply(figures)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(32 << 10)
        registry.emit(into: &buffer)
        return buffer
    }

    /// Sets gauges and advances counters to the snapshot's totals.
    func apply(_ figures: [StorageMetric]) {
        lastTotals.withLock { last in
            for figure in figures {
                let labels = figure.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
                switch figure.kind {
                case .gauge:
                    registry.makeGauge(name: figure.name, labels: labels, help: figure.help).set(figure.value)
                case .counter:
                    let key = figure.name + labels.map { "|\($0.0)=\($0.1)" }.joined()
                    let delta = figure.value - (last[key] ?? 0)
                    // Registered even at 0, so that every name shows from the first scrape.
                    let counter = registry.makeCounter(name: figure.name, labels: labels, help: figure.help)
                    if delta > 0 {
                        counter.increment(by: delta)
                        last[key] = figure.value
                    } else if delta < 0 {
                        // The source restarted from zero (a reopened storage): count from its new total.
                        last[key] = figure.value
                    }
                }
            }
        }
    }
}
