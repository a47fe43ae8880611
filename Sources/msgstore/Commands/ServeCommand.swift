import ArgumentParser
import CoreMetrics
import Foundation
import Logging
import Messaging
import MessagingEngineStorage
import MessagingPostgresStorage
import MsgStore
import MsgStoreServer

/// `msgstore serve`: the messaging HTTP server, the fan-out worker and the
/// store in one process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the messaging HTTP server (API: docs/api.md) on a data directory.",
        discussion: """
            Every option can also come from the environment: --some-option as MSGSTORE_SOME_OPTION \
            (e.g. MSGSTORE_PORT=9000, MSGSTORE_API_KEYS=/etc/msgstore/keys), a flag as \
            MSGSTORE_NO_REQUEST_LOG=1. The command line wins. The server logs every option's value \
            and where it came from at start-up (secrets redacted).
            """
    )

    /// Which storage backend to serve from.
    enum StorageKind: String, ExpressibleByArgument, CaseIterable {
        case engine
        case memory
        case postgres
    }

    @Option(name: .long, help: "The data directory.")
    var data: String = "./msgstore-data"

    @Option(name: .long, help: "The address to listen on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "The port to listen on (0: any free port).")
    var port: Int = 8080

    @Option(name: .long, help: "WAL sync policy: always (durable acknowledgements) or none.")
    var sync: String = SyncMode.always.rawValue

    @Option(name: .long, help: "Concurrent fan-out consumers of the group message queue.")
    var fanoutWorkers: Int = FanOutOptions().consumers

    @Option(name: .long, help: "Members written per atomic fan-out batch (one durable write each).")
    var fanoutBatch: Int = FanOutOptions().membersPerBatch

    @Option(name: .long, help: "The largest message content in bytes.")
    var maxContentBytes: Int = 64 * 1024

    @Option(name: .long, help: "The largest inbox page response in bytes of JSON; a page stops early, with a nextPageToken, before passing it.")
    var maxPageBytes: Int = MessagingLimits().maxPageBytes

    @Option(name: .long, help: "HTTP connections at most; more are closed at once (default: what the descriptor limit leaves after the engine's files, at most 16384).")
    var maxConnections: Int?

    @Option(name: .long, help: "Seconds a connection may sit idle between requests before it is closed.")
    var idleTimeoutSeconds: Int = 60

    @Option(name: .long, help: "Seconds a request may take to arrive, head and body, before its connection is closed.")
    var requestTimeoutSeconds: Int = 30

    @Option(name: .long, help: "Clients that may wait for messages at once (long polls with wait > 0 and event streams together); more get 503 with Retry-After.")
    var maxWaiters: Int = InboxNotifier.defaultMaxWaiters

    @Option(name: .long, help: "Write-ahead log segment size in MiB (engine storage).")
    var walSegmentMib: Int = Self.defaultWalSegmentMib

    @Option(name: .long, help: "Memory for all memtables together in MiB (engine storage).")
    var memtableBudgetMib: Int = Self.defaultMemtableBudgetMib

    static let defaultWalSegmentMib = 32
    static let defaultMemtableBudgetMib = 64

    /// The engine storage's options for `serve`'s flags; `msgstore bench`
    /// opens its storage with these too (the defaults), so that it measures
    /// what the server runs.
    static func engineStorageOptions(
        directory: String, sync: SyncMode, walSegmentMib: Int = defaultWalSegmentMib,
        memtableBudgetMib: Int = defaultMemtableBudgetMib, maxOpenTableFiles: Int? = nil
    ) -> EngineStorageOptions {
        EngineStorageOptions(dataDirectory: directory, sync: sync, walSegmentBytes: walSegmentMib << 20,
                             memtableBudgetBytes: memtableBudgetMib << 20, maxOpenTableFiles: maxOpenTableFiles)
    }

    @Option(name: .long, help: "Storage backend: engine (the data directory), memory (nothing persists) or postgres (--database-url; docs/scaling.md).")
    var storage: StorageKind = .engine

    @Option(name: .long, help: "The PostgreSQL database of --storage postgres: postgres://user:password@host:5432/database (?sslmode=disable|prefer|require; ?host=/socket/dir for a unix socket). Its password is never logged.")
    var databaseUrl: String?

    @Option(name: .long, help: "Connections of the PostgreSQL pool at most (--storage postgres; one more listens for fan-out notifications).")
    var databaseConnections: Int = 16

    @Option(name: .long, help: "Seconds a fan-out consumer holds a group message before another (on any server) may take it over; extended while it makes progress.")
    var fanoutLeaseSeconds: Double = 30

    @Flag(name: .long, help: "Do not log one line per request.")
    var noRequestLog = false

    @Option(name: .long, help: "Log format: text (one readable line per record) or json (one JSON object per line).")
    var logFormat: String = LogFormat.text.rawValue

    @Option(name: .long, help: "Lowest level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = Logger.Level.info.rawValue

    @Option(name: .long, help: "A file of API keys (lines of NAME KEY [read-write|read-only]): every request but GET /health and GET /openapi.yaml then needs 'Authorization: Bearer KEY'. Off by default.")
    var apiKeys: String?

    func validate() throws {
        guard SyncMode(rawValue: sync) != nil else {
            throw ValidationError("--sync must be 'always' or 'none'.")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535.") }
        guard fanoutWorkers >= 1 else { throw ValidationError("--fanout-workers must be at least 1.") }
        guard (1...100_000).contains(fanoutBatch) else { throw ValidationError("--fanout-batch must be 1...100000.") }
        guard (1...(16 << 20)).contains(maxContentBytes) else { throw ValidationError("--max-content-bytes must be 1...16777216.") }
        let smallestPage = MessagingLimits.smallestPageBytes(maxContentBytes: maxContentBytes)
        guard maxPageBytes >= smallestPage else {
            throw ValidationError("--max-page-bytes must be at least \(smallestPage) (any one message of --max-content-bytes must fit).")
        }
        if let maxConnections { guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1.") } }
        guard (1...86_400).contains(idleTimeoutSeconds) else { throw ValidationError("--idle-timeout-seconds must be 1...86400.") }
        guard (1...3_600).contains(requestTimeoutSeconds) else { throw ValidationError("--request-timeout-seconds must be 1...3600.") }
        guard (0...1_000_000).contains(maxWaiters) else { throw ValidationError("--max-waiters must be 0...1000000.") }
        guard (1...1024).contains(walSegmentMib) else { throw ValidationError("--wal-segment-mib must be 1...1024.") }
        guard (1...65_536).contains(memtableBudgetMib) else { throw ValidationError("--memtable-budget-mib must be 1...65536.") }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be 'text' or 'json'.") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        if let apiKeys { _ = try Self.loadAPIKeys(path: apiKeys) }
        guard (0.1...3_600).contains(fanoutLeaseSeconds) else { throw ValidationError("--fanout-lease-seconds must be 0.1...3600.") }
        guard (1...1_000).contains(databaseConnections) else { throw ValidationError("--database-connections must be 1...1000.") }
        if storage == .postgres {
            guard let databaseUrl else {
                throw ValidationError("--storage postgres needs --database-url (or MSGSTORE_DATABASE_URL): postgres://user:password@host:5432/database.")
            }
            do {
                _ = try PostgresStorageOptions(url: databaseUrl)
            } catch {
                throw ValidationError("--database-url: \(error)")
            }
        }
    }

    /// Reads and parses the API key file; any problem is a validation error naming the file (and line).
    static func loadAPIKeys(path: String) throws -> APIKeys {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--api-keys: cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("--api-keys: \(path) is not UTF-8 text") }
        do {
            return try APIKeys(parsing: text, file: path)
        } catch {
            throw ValidationError("--api-keys: \(error)")
        }
    }

    /// Every option's value as the start-up log shows it (secrets redacted),
    /// with where it came from: `name=value (source)`, in declaration order.
    func configurationLines() -> [String] {
        let sources = ServeEnvironment.expand(Array(CommandLine.arguments.dropFirst()),
                                              environment: ProcessInfo.processInfo.environment).sources
        var lines: [String] = []
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let name = ServeEnvironment.kebabCase(String(label.dropFirst()))
            var value = String(describing: child.value)
            if value.hasPrefix("Optional("), value.hasSuffix(")") { value = String(value.dropFirst(9).dropLast()) }
            if value == "nil" { value = "(unset)" }
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            let source = sources[name] ?? .defaultValue
            lines.append("\(name)=\(ServeEnvironment.redacted(name: name, value: value)) (\(source.rawValue))")
        }
        return lines
    }

    func run() async throws {
        configureMalloc()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = LogFormat(rawValue: logFormat) ?? .text
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "msgstore")
        logger.info("configuration: \(configurationLines().joined(separator: ", "))")
        let keys = try apiKeys.map { try Self.loadAPIKeys(path: $0) }
        if let keys {
            let readOnly = keys.keys.filter { $0.access == .readOnly }.count
            logger.info("API keys on: \(keys.keys.count) keys (\(readOnly) read-only); GET /health and GET /openapi.yaml stay open")
        }
        let descriptors = DescriptorBudget.raiseAndPlan(requestedConnections: maxConnections)
        logger.info("\(descriptors.description)")
        if let maxConnections, maxConnections > descriptors.connections {
            logger.warning("--max-connections \(maxConnections) lowered to \(descriptors.connections): the descriptor limit leaves no more")
        }
        let syncMode = SyncMode(rawValue: sync) ?? .always
        let (messagingStorage, dataDescription) = try await openStorage(sync: syncMode, maxOpenTableFiles: descriptors.tableFiles, logger: logger)
        // Anything in the process using the swift-metrics API reports into /metrics.
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        let server = MessagingServer(
            storage: messagingStorage,
            options: ServerOptions(
                host: host, port: port, limits: MessagingLimits(maxContentBytes: maxContentBytes, maxPageBytes: maxPageBytes),
                logsRequests: !noRequestLog,
                connections: ConnectionLimits(
                    maxConnections: descriptors.connections, idleTimeout: .seconds(idleTimeoutSeconds),
                    requestReadTimeout: .seconds(requestTimeoutSeconds)),
                maxWaiters: maxWaiters, apiKeys: keys),
            fanOut: FanOutOptions(consumers: fanoutWorkers, membersPerBatch: fanoutBatch,
                                  lease: .milliseconds(Int((fanoutLeaseSeconds * 1000).rounded()))),
            logger: logger, metrics: metrics)
        let host = self.host
        try await server.run { boundPort in
            // One write, so a script reading stdout sees both lines at once.
            let lines = "msgstore listening on http://\(host):\(boundPort)\nmsgstore data: \(dataDescription)\n"
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        print("msgstore stopped")
    }

    /// Opens the chosen storage; returns it and a description of where the data is.
    private func openStorage(sync: SyncMode, maxOpenTableFiles: Int, logger: Logger) async throws -> (any MessagingStorage, String) {
        switch storage {
        case .memory:
            return (InMemoryMessagingStorage(), "in memory (nothing persists)")
        case .engine:
            let directory = URL(fileURLWithPath: data).standardizedFileURL.path
            let options = Self.engineStorageOptions(directory: directory, sync: sync, walSegmentMib: walSegmentMib,
                                                    memtableBudgetMib: memtableBudgetMib, maxOpenTableFiles: maxOpenTableFiles)
            let engine = try await makeEngineMessagingStorage(options: options, logger: logger)
            return (engine, "\(directory) (sync \(sync.rawValue))")
        case .postgres:
            let options = try PostgresStorageOptions(url: databaseUrl ?? "", maxConnections: databaseConnections)
            let storage = try await PostgresMessagingStorage.open(options: options, logger: logger)
            return (storage, "PostgreSQL \(options)")
        }
    }
}
