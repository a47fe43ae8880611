import Foundation
import Testing
@testable import MsgStore

/// Crash tests with real processes: a producer and a consumer
/// (`MsgStoreTestHelper queue-producer` / `queue-consumer`) are started on
/// one queue, killed with SIGKILL at random moments, and restarted.
///
/// Checked over the whole run:
/// - every enqueue the producer saw acknowledged is delivered at least once;
/// - nothing acked is delivered again;
/// - every delivered payload is intact and matches the id its sequence was acknowledged with
///   (a reused sequence or a corrupted record fails).
@Suite struct QueueCrashTests {
    /// The test helper, built next to the test bundle.
    static func helperPath() throws -> String {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent)
        }
        candidates.append((CommandLine.arguments[0] as NSString).deletingLastPathComponent)
        for directory in candidates {
            let path = directory + "/MsgStoreTestHelper"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw StoreError(.notFound, "MsgStoreTestHelper not found next to the test bundle (looked in \(candidates)); run `swift build` first")
    }

    /// The ledger the processes' output is checked against.
    struct Ledger {
        var enqueued: [UInt64: String] = [:]
        var delivered: Set<UInt64> = []
        var acked: Set<UInt64> = []
        var violations: [String] = []

        mutating func read(_ output: String) {
            for line in output.split(separator: "\n") {
                let fields = line.split(separator: " ").map(String.init)
                switch fields.first {
                case "E" where fields.count == 3:
                    guard let sequence = UInt64(fields[1]) else { continue }
                    if let earlier = enqueued[sequence], earlier != fields[2] {
                        violations.append("sequence \(sequence) acknowledged for \(earlier) and for \(fields[2])")
                    }
                    enqueued[sequence] = fields[2]
                case "R" where fields.count == 5:
                    guard let sequence = UInt64(fields[1]) else { continue }
                    if fields[3] != "ok" { violations.append("sequence \(sequence) delivered corrupted: \(line)") }
                    if acked.contains(sequence) { violations.append("sequence \(sequence) delivered again after its ack") }
                    if let id = enqueued[sequence], id != fields[2] {
                        violations.append("sequence \(sequence) delivered \(fields[2]), enqueued as \(id)")
                    }
                    delivered.insert(sequence)
                case "A" where fields.count == 2:
                    if let sequence = UInt64(fields[1]) { acked.insert(sequence) }
                case "ERROR":
                    violations.append("helper failed: \(line)")
                default:
                    continue  // a line cut by SIGKILL cannot happen (one write per line); ignore noise
                }
            }
        }
    }

    /// Runs the helper; kills it with SIGKILL after `killAfter` (or waits up to 60 s for it to exit).
    static func run(_ helper: String, _ arguments: [String], killAfter: Duration?, outputIn directory: String) throws -> String {
        let outputPath = directory + "/out-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: helper)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        if let killAfter {
            Thread.sleep(forTimeInterval: Double(killAfter.components.seconds) + Double(killAfter.components.attoseconds) / 1e18)
            kill(process.processIdentifier, SIGKILL)
        } else {
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try output.close()
        let text = try String(contentsOfFile: outputPath, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: outputPath)
        return text
    }

    @Test func producerAndConsumerKilledAtRandomLoseNothing() throws {
        let helper = try Self.helperPath()
        let seed = UInt64.random(in: 1...UInt64.max)
        print("QueueCrashTests seed \(seed)")
        var random = QueueSplitMix64(seed: seed)
        let dir = QueueTestDirectory("crash"); defer { dir.cleanUp() }
        let queue = dir.queue()
        var ledger = Ledger()
        let cycles = 20
        let start = ContinuousClock.now
        for cycle in 0..<cycles {
            let producerLife = Duration.milliseconds(60 + Int(random.next() % 340))
            ledger.read(try Self.run(helper, ["queue-producer", queue, "c\(cycle)", "4"], killAfter: producerLife, outputIn: dir.path))
            let consumerLife = Duration.milliseconds(60 + Int(random.next() % 340))
            ledger.read(try Self.run(helper, ["queue-consumer", queue, "\(random.next())"], killAfter: consumerLife, outputIn: dir.path))
            if ContinuousClock.now - start > .seconds(50) {
                print("QueueCrashTests: stopping after \(cycle + 1) cycles (time bound)")
                break
            }
        }
        let final = try Self.run(helper, ["queue-drain", queue], killAfter: nil, outputIn: dir.path)
        ledger.read(final)
        #expect(final.contains("DONE depth=0"), "drain did not finish: \(final.suffix(300))")
        let lost = ledger.enqueued.keys.filter { !ledger.delivered.contains($0) }.sorted()
        #expect(lost.isEmpty, "acknowledged enqueues never delivered: \(lost.prefix(20)) (seed \(seed))")
        #expect(ledger.violations.isEmpty, "\(ledger.violations.prefix(20)) (seed \(seed))")
        #expect(ledger.enqueued.count > 100, "the producers acknowledged only \(ledger.enqueued.count) enqueues")
        print("QueueCrashTests: \(ledger.enqueued.count) acknowledged enqueues, \(ledger.delivered.count) delivered, \(ledger.acked.count) acked")
        // The queue is sound after all the kills.
        let verdict = verifyQueue(path: queue)
        #expect(verdict.isOK, "\(verdict.problems)")
    }
}
