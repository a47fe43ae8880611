import ArgumentParser
import Foundation
import MessagingEngineStorage
import MsgStore

/// `msgstore queue list|redrive DIR --queue NAME`: the dead letters of a
/// durable queue of a data directory, and putting them back.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect a durable queue's dead letters and redrive them (on a stopped server; "
            + "a running one: POST /admin/queues/fanout/redrive).",
        subcommands: [List.self, Redrive.self]
    )

    /// `msgstore queue list DIR [--queue fanout] [--queued] [--json]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the dead letters of a queue (or, with --queued, its queued messages). Read-only, takes no lock: "
                + "safe beside a running server.")

        @Argument(help: "The data directory.")
        var directory: String

        @Option(help: "The queue's name.")
        var queue: String = "fanout"

        @Flag(help: "List the queued (unacknowledged) messages instead of the dead letters.")
        var queued = false

        @Flag(help: "Print JSON.")
        var json = false

        struct Line: Encodable {
            var sequence: UInt64
            var originalSequence: UInt64?
            var enqueuedAt: String
            var attempts: UInt32
            var reason: String?
            var payloadBytes: Int
            var message: String?
        }

        func run() throws {
            let queueDirectory = DurableQueue.directory(forQueue: queue, inDataDirectory: directory) + (queued ? "" : ".dlq")
            guard FileManager.default.fileExists(atPath: queueDirectory) else {
                FileHandle.standardError.write(Data("error: no queue at \(queueDirectory)\n".utf8))
                throw ExitCode(2)
            }
            let inspection = try QueueInspection.inspect(path: queueDirectory, entries: true)
            let lines = inspection.entries.filter { !$0.isAcked }.map { entry in
                Line(sequence: entry.sequence, originalSequence: entry.deadLetter?.originalSequence,
                     enqueuedAt: iso8601(micros: entry.enqueuedAtMicros), attempts: entry.attempts,
                     reason: entry.deadLetter?.reason, payloadBytes: entry.payload.count,
                     message: queue == "fanout" ? describeFanOutRecord(entry.payload) ?? "undecodable fan-out record" : nil)
            }
            if json {
                try printJSON(lines)
                return
            }
            print("\(queued ? "queued messages" : "dead letters") of \(queueDirectory): \(lines.count)")
            for line in lines {
                var text = "#\(line.sequence)"
                if let original = line.originalSequence { text += " (was #\(original))" }
                text += " enqueued \(line.enqueuedAt) attempts \(line.attempts) payload \(line.payloadBytes) bytes"
                if let message = line.message { text += "\n    \(message)" }
                if let reason = line.reason { text += "\n    reason: \(reason)" }
                print(text)
            }
            if !queued && !lines.isEmpty {
                print("redrive: msgstore queue redrive \(directory) --queue \(queue)   (server stopped)")
                print("     or: curl -X POST http://HOST:PORT/admin/queues/\(queue)/redrive   (server running)")
            }
        }
    }

    /// `msgstore queue redrive DIR [--queue fanout]`.
    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every dead letter of a queue back into it (the server must be stopped: it holds the queue's lock).")

        @Argument(help: "The data directory.")
        var directory: String

        @Option(help: "The queue's name.")
        var queue: String = "fanout"

        func run() async throws {
            let queueDirectory = DurableQueue.directory(forQueue: queue, inDataDirectory: directory)
            guard FileManager.default.fileExists(atPath: queueDirectory) else {
                FileHandle.standardError.write(Data("error: no queue at \(queueDirectory)\n".utf8))
                throw ExitCode(2)
            }
            var options = QueueOptions()
            options.maxAttempts = .max  // nothing is received here; never move anything for a count
            let opened: DurableQueue
            do {
                opened = try DurableQueue.open(directory: queueDirectory, options: options)
            } catch let error as StoreError where error.code == .locked {
                FileHandle.standardError.write(Data(("error: \(queueDirectory) is open in another process (a running server?); "
                    + "use POST /admin/queues/\(queue)/redrive on it instead\n").utf8))
                throw ExitCode(1)
            }
            let moved: Int
            do {
                moved = try await opened.redrive()
            } catch {
                try? await opened.close()
                throw error
            }
            try await opened.close()
            print("redriven: \(moved) message(s) moved back into \(queueDirectory)")
        }
    }
}

/// `2026-11-29T02:26:24.995283Z` from microseconds since the epoch.
private func iso8601(micros: Int64) -> String {
    let seconds = Double(micros) / 1_000_000
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: seconds))
}
