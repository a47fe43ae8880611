import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `msgstore stats URL`: a running server's `/metrics` as readable tables.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a running server's metrics (GET /metrics) as readable tables: requests and latency by route, the fan-out, the engine.",
        discussion: "With --api-keys on the server, pass a key with --api-key or MSGSTORE_API_KEY (a read-only key is enough)."
    )

    @Argument(help: "The server's base URL, e.g. http://127.0.0.1:8080.")
    var url: String

    @Option(help: "An API key (or MSGSTORE_API_KEY).")
    var apiKey: String?

    @Option(help: "Refresh every N seconds until interrupted (0: once).")
    var watch: Int = 0

    func validate() throws {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
            throw ValidationError("\(url) is not an http:// or https:// URL")
        }
        guard (0...3600).contains(watch) else { throw ValidationError("--watch must be 0...3600 seconds") }
    }

    func run() async throws {
        let key = apiKey ?? ProcessInfo.processInfo.environment["MSGSTORE_API_KEY"]
        repeat {
            let text = try await Self.fetch(url: url, key: key)
            let samples = PrometheusText.parse(text)
            if watch > 0 { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            print(Self.render(samples, url: url))
            if watch > 0 { try await Task.sleep(for: .seconds(watch)) }
        } while watch > 0
    }

    static func fetch(url: String, key: String?) async throws -> String {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        var request = URLRequest(url: URL(string: base + "/metrics")!)
        request.timeoutInterval = 10
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ValidationError("cannot reach \(base)/metrics: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 401 || status == 403 {
            throw ValidationError("\(base)/metrics answered \(status): the server wants an API key (--api-key or MSGSTORE_API_KEY)")
        }
        guard status == 200 else { throw ValidationError("\(base)/metrics answered \(status)") }
        return String(decoding: data, as: UTF8.self)
    }

    static func render(_ samples: [PrometheusText.Sample], url: String) -> String {
        var out = "msgstore at \(url)\n"
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
        }
        func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.2f", value)
        }

        // HTTP: one row per route and status.
        out += "\nHTTP (\(number(value("msgstore_http_connections_open") ?? 0)) connections open)\n"
        let requests = samples.filter { $0.name == "msgstore_http_requests_total" }
            .sorted { ($0.labels["route"] ?? "", $0.labels["method"] ?? "", $0.labels["status"] ?? "")
                < ($1.labels["route"] ?? "", $1.labels["method"] ?? "", $1.labels["status"] ?? "") }
        out += "  " + pad("route", 34) + pad("method", 8) + pad("status", 8) + pad("requests", 10, right: true)
            + pad("p50 ms", 10, right: true) + pad("p99 ms", 10, right: true) + "\n"
        for request in requests {
            let labels = ["method": request.labels["method"] ?? "", "route": request.labels["route"] ?? ""]
            let buckets = PrometheusText.buckets(samples, name: "msgstore_http_request_duration_seconds", labels: labels)
            let p50 = PrometheusText.quantile(0.5, buckets).map { String(format: "%.2f", $0 * 1000) } ?? "-"
            let p99 = PrometheusText.quantile(0.99, buckets).map { String(format: "%.2f", $0 * 1000) } ?? "-"
            out += "  " + pad(labels["route"]!, 34) + pad(labels["method"]!, 8) + pad(request.labels["status"] ?? "", 8)
                + pad(number(request.value), 10, right: true) + pad(p50, 10, right: true) + pad(p99, 10, right: true) + "\n"
        }
        if requests.isEmpty { out += "  (no requests yet)\n" }

        // Fan-out.
        let lag = PrometheusText.buckets(samples, name: "msgstore_fanout_lag_seconds", labels: [:])
        out += "\nGroup fan-out\n"
        out += "  queue: depth \(number(value("msgstore_fanout_queue_depth") ?? 0)), in flight \(number(value("msgstore_fanout_queue_in_flight") ?? 0)), "
            + "oldest \(String(format: "%.1f", value("msgstore_fanout_queue_oldest_age_seconds") ?? 0)) s, "
            + "dead letters \(number(value("msgstore_fanout_queue_dead_letters") ?? 0)), redelivered \(number(value("msgstore_fanout_queue_redelivered_total") ?? 0))\n"
        out += "  worker: \(number(value("msgstore_fanout_messages_total") ?? 0)) messages, \(number(value("msgstore_fanout_copies_total") ?? 0)) copies "
            + "in \(number(value("msgstore_fanout_batches_total") ?? 0)) batches, \(number(value("msgstore_fanout_retries_total") ?? 0)) retries\n"
        out += "  lag (accepted → last copy): p50 \(PrometheusText.quantile(0.5, lag).map { String(format: "%.1f ms", $0 * 1000) } ?? "-"), "
            + "p99 \(PrometheusText.quantile(0.99, lag).map { String(format: "%.1f ms", $0 * 1000) } ?? "-")\n"

        // Engine.
        guard samples.contains(where: { $0.name.hasPrefix("msgstore_engine_") }) else {
            out += "\nEngine: none (the server runs --storage memory)\n"
            return out
        }
        let batches = value("msgstore_engine_write_batches_total") ?? 0
        let groups = value("msgstore_engine_commit_groups_total") ?? 0
        out += "\nEngine\n"
        out += "  writes: \(number(batches)) batches in \(number(groups)) commit groups"
            + (groups > 0 ? String(format: " (%.1f per group)", batches / groups) : "")
            + ", \(number(value("msgstore_engine_log_syncs_total") ?? 0)) log syncs, "
            + "\(formatBytes(Int(value("msgstore_engine_log_bytes_written_total") ?? 0))) logged\n"
        out += "  background: \(number(value("msgstore_engine_flushes_total") ?? 0)) flushes, \(number(value("msgstore_engine_compactions_total") ?? 0)) compactions, "
            + "write amplification \(String(format: "%.2f", value("msgstore_engine_write_amplification") ?? 0)), "
            + "stalled \(String(format: "%.1f", (value("msgstore_engine_stall_microseconds_total") ?? 0) / 1e6)) s\n"
        out += "  memtables: \(formatBytes(Int(value("msgstore_engine_memtable_bytes", ["state": "active"]) ?? 0))) active, "
            + "\(formatBytes(Int(value("msgstore_engine_memtable_bytes", ["state": "immutable"]) ?? 0))) waiting for flush\n"
        for cache in ["block", "row"] {
            let hits = value("msgstore_engine_\(cache)_cache_hits_total") ?? 0
            let misses = value("msgstore_engine_\(cache)_cache_misses_total") ?? 0
            let rate = hits + misses > 0 ? String(format: "%.1f%%", hits * 100 / (hits + misses)) : "-"
            out += "  \(cache) cache: \(formatBytes(Int(value("msgstore_engine_\(cache)_cache_bytes") ?? 0))), hit rate \(rate) "
                + "(\(number(hits)) hits, \(number(misses)) misses)\n"
        }
        out += "  files: \(number(value("msgstore_engine_open_table_files") ?? 0)) tables open, "
            + "\(number(value("msgstore_engine_live_log_segments") ?? 0)) live log segments, \(formatBytes(Int(value("msgstore_engine_sst_bytes") ?? 0))) of tables\n"
        let levels = samples.filter { $0.name == "msgstore_engine_level_files" }
            .compactMap { sample in sample.labels["level"].flatMap(Int.init).map { ($0, sample.value) } }.sorted { $0.0 < $1.0 }
        let levelText = levels.filter { $0.1 > 0 }.map { level, files in
            "L\(level) \(number(files)) files \(formatBytes(Int(value("msgstore_engine_level_bytes", ["level": "\(level)"]) ?? 0)))"
        }
        out += "  levels: \(levelText.isEmpty ? "empty" : levelText.joined(separator: ", "))\n"
        return out
    }
}

/// The Prometheus text format (0.0.4), as much as `msgstore stats` reads of it.
enum PrometheusText {
    /// One line `name{labels} value`.
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Every sample line (comments skipped; a line that does not parse is skipped).
    static func parse(_ text: String) -> [Sample] {
        var samples: [Sample] = []
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
                name = String(series[..<open])
                var rest = series[series.index(after: open)..<series.index(before: series.endIndex)]
                // key="value" pairs; values may hold escaped quotes.
                while let equals = rest.firstIndex(of: "=") {
                    let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                    var index = rest.index(after: equals)
                    guard index < rest.endIndex, rest[index] == "\"" else { break }
                    index = rest.index(after: index)
                    var value = ""
                    while index < rest.endIndex, rest[index] != "\"" {
                        if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                            index = rest.index(after: index)
                            value.append(rest[index] == "n" ? "\n" : rest[index])
                        } else {
                            value.append(rest[index])
                        }
                        index = rest.index(after: index)
                    }
                    labels[key] = value
                    rest = index < rest.endIndex ? rest[rest.index(after: index)...] : rest[rest.endIndex...]
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return samples
    }

    /// The cumulative buckets (upper bound, count) of a histogram series, ascending.
    static func buckets(_ samples: [Sample], name: String, labels: [String: String]) -> [(Double, Double)] {
        samples.filter { sample in
            sample.name == name + "_bucket" && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }.compactMap { sample in
            guard let bound = sample.labels["le"] else { return nil }
            return (bound == "+Inf" ? .infinity : Double(bound) ?? .infinity, sample.value)
        }.sorted { $0.0 < $1.0 }
    }

    /// `histogram_quantile`: linear interpolation inside the bucket holding the
    /// quantile; the largest finite bound if it falls in `+Inf`; nil without observations.
    static func quantile(_ q: Double, _ buckets: [(Double, Double)]) -> Double? {
        guard let total = buckets.last?.1, total > 0 else { return nil }
        let rank = q * total
        var previousBound = 0.0, previousCount = 0.0
        for (bound, count) in buckets {
            if count >= rank {
                if bound == .infinity { return previousBound }
                let inBucket = count - previousCount
                return inBucket > 0 ? previousBound + (bound - previousBound) * (rank - previousCount) / inBucket : bound
            }
            previousBound = bound
            previousCount = count
        }
        return previousBound
    }
}
