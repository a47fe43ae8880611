import ArgumentParser
import Foundation
import Logging
import Messaging

/// `msgstore bench`: the standard messaging workload, in-process, against the
/// storage `msgstore serve` uses.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the standard messaging workload (docs/workload.md) against the server's storage and print msgbench/1 JSON lines.",
        discussion: """
            Generate the workload with:
            python3 Tools/bench/gen_workload.py --out /tmp/msgbench-wl
            Run the peers on it with Tools/peers/run --workload /tmp/msgbench-wl ...,
            and summarize with python3 Tools/bench/summarize.py *.jsonl.
            Tools/bench.sh (make bench-compare) runs the whole comparison
            (docs/performance.md).
            The storage is opened exactly as `msgstore serve` opens it (default
            options) and driven through the MessagingStorage protocol.
            The data directory (--db) is created if missing and left in place
            for `msgstore inspect` (or `msgstore serve --data`).
            """
    )

    @Option(help: "The workload folder written by Tools/bench/gen_workload.py.")
    var workload: String

    @Option(help: "The store's data directory (created if missing, must be empty).")
    var db: String

    @Option(help: "buffered (log written, not fsynced per send) or durable (fsynced before a send returns).")
    var durability: Durability = .buffered

    @Option(help: "Concurrent client tasks for the timed phases (default: 1 buffered, 8 durable).")
    var threads: Int?

    @Option(help: "Time only the first N sends; the rest load buffered with 1 thread (ingest_rest).")
    var limit: Int?

    @Option(help: "Memory for all memtables together in MiB (as msgstore serve --memtable-budget-mib).")
    var memtableBudgetMib: Int = ServeCommand.defaultMemtableBudgetMib

    @Option(help: "Concurrent fan-out consumers (as msgstore serve --fanout-workers).")
    var fanoutWorkers: Int = FanOutOptions().consumers

    @Flag(help: "No progress line (shown on a terminal only, on standard error).")
    var quiet = false

    enum Durability: String, ExpressibleByArgument, CaseIterable {
        case buffered, durable
    }

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if !(1...256).contains(fanoutWorkers) { throw ValidationError("--fanout-workers must be 1...256") }
        if !(1...65_536).contains(memtableBudgetMib) { throw ValidationError("--memtable-budget-mib must be 1...65536") }
        if FileManager.default.fileExists(atPath: db),
           let contents = try? FileManager.default.contentsOfDirectory(atPath: db), !contents.isEmpty {
            throw ValidationError("--db \(db) is not empty; the benchmark starts from an empty folder")
        }
    }

    func run() async throws {
        configureMalloc()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let loaded: Workload
        do {
            loaded = try Workload(directory: workload)
        } catch {
            throw ValidationError("cannot read the workload in \(workload): \(error)")
        }
        let durable = durability == .durable
        let runner = BenchRunner(workload: loaded, databaseDirectory: db, durable: durable,
                                 threads: threads ?? (durable ? 8 : 1), limit: limit, memtableBudgetMib: memtableBudgetMib,
                                 fanOut: FanOutOptions(consumers: fanoutWorkers),
                                 showsProgress: !quiet && ProgressLine.standardErrorIsTerminal)
        try await runner.run(logger: Logger(label: "msgstore.bench"))
    }
}
