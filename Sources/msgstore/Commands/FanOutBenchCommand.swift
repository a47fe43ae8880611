import ArgumentParser
import Foundation
import Logging
import Messaging
import MessagingEngineStorage
import MsgStore

/// `msgstore bench-fanout`: the group fan-out measured in-process on the
/// engine storage (docs/fanout.md): time from the 202 to the last copy,
/// copies/s, log bytes per copy and RSS growth for groups of several sizes,
/// then send latency (group vs direct) at several concurrencies.
struct FanOutBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-fanout",
        abstract: "Measure group fan-out (202 → last copy, copies/s, bytes/copy, RSS) and send latency, in-process, on the engine.",
        discussion: """
            Each group size runs on a fresh data directory under --dir (removed
            afterwards unless --keep). Members are loaded through the storage
            API, then one group message is sent with the fan-out worker idle
            in its long poll; the clock stops when the worker has written the
            last copy (the batch that holds it is committed, so it is readable).
            Run a release build: make release; .build/release/msgstore bench-fanout --dir /tmp/fanout-bench
            """
    )

    @Option(help: "A scratch directory (a data directory per run is created inside).")
    var dir: String

    @Option(help: "Group sizes, comma-separated.")
    var members: String = "10,1000,10000,100000"

    @Option(help: "WAL and queue sync policy: always or none.")
    var sync: String = "always"

    @Option(help: "Members per atomic fan-out batch.")
    var batch: Int = FanOutOptions().membersPerBatch

    @Option(help: "Concurrent senders for the latency runs, comma-separated.")
    var senders: String = "1,8,64"

    @Option(help: "Sends per latency run (each of group and direct).")
    var sends: Int = 2000

    @Flag(help: "Keep the data directories.")
    var keep = false

    func run() async throws {
        configureMalloc()
        guard let syncMode = SyncMode(rawValue: sync) else { throw ValidationError("--sync must be always or none") }
        let sizes = members.split(separator: ",").compactMap { Int($0) }
        let concurrencies = senders.split(separator: ",").compactMap { Int($0) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        print("fan-out: sync \(sync), \(batch) members per batch, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(String(format: "%10@ %14@ %12@ %12@ %14@ %14@", "members" as NSString, "202→last (s)" as NSString,
                     "copies/s" as NSString, "bytes/copy" as NSString, "RSS growth MB" as NSString, "send (ms)" as NSString))
        for size in sizes {
            try await fanOut(members: size, sync: syncMode)
        }
        print("")
        print("send latency (ms), 10-member group vs direct, sync \(sync); group alone = fan-out not running, "
              + "group+fan-out = the worker delivering meanwhile:")
        print(String(format: "%8@ %10@ %10@ %12@ %12@ %10@ %10@", "senders" as NSString, "group p50" as NSString,
                     "group p99" as NSString, "+fan-out p50" as NSString, "+fan-out p99" as NSString,
                     "direct p50" as NSString, "direct p99" as NSString))
        for concurrency in concurrencies {
            try await latency(senders: concurrency, sync: syncMode)
        }
    }

    private func open(_ name: String, sync: SyncMode) throws -> (EngineMessagingStorage, String) {
        let path = (dir as NSString).appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
        let storage = try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: path, sync: sync),
                                                 logger: Logger(label: "bench"))
        return (storage, path)
    }

    private func cleanUp(_ path: String) {
        if !keep { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Creates `count` users in `group` with `parallelism` concurrent writers.
    private func load(_ service: MessagingService, group: GroupID, count: Int, parallelism: Int = 128) async throws -> [UserID] {
        try await withThrowingTaskGroup(of: [UserID].self) { tasks in
            for lane in 0..<parallelism {
                tasks.addTask {
                    var users: [UserID] = []
                    var index = lane
                    while index < count {
                        let user = try await service.createUser()
                        try await service.storage.addMember(user, to: group)
                        users.append(user)
                        index += parallelism
                    }
                    return users
                }
            }
            var all: [UserID] = []
            for try await users in tasks { all += users }
            return all
        }
    }

    private func fanOut(members count: Int, sync: SyncMode) async throws {
        let (storage, path) = try open("fanout-\(count)", sync: sync)
        defer { cleanUp(path) }
        let service = MessagingService(storage: storage)
        let group = try await service.createGroup()
        let users = try await load(service, group: group, count: count)
        let worker = FanOutWorker(storage: storage, options: FanOutOptions(membersPerBatch: batch), logger: Logger(label: "bench"))
        let running = Task { await worker.run() }
        try await Task.sleep(for: .milliseconds(200))  // idle in its long poll
        let rssBefore = Memory.residentKiB()
        Memory.resetPeak()
        let logBytes = storage.storeStatistics.logBytesWritten
        let copiesBefore = worker.statistics.copiesWritten
        let sendStart = ContinuousClock.now
        let sent = try await service.sendGroupMessage(from: users[0], to: group, content: "fan-out benchmark message of \(count)")
        let accepted = ContinuousClock.now
        while worker.statistics.copiesWritten - copiesBefore < UInt64(count) {
            try await Task.sleep(for: .microseconds(200))
        }
        let done = ContinuousClock.now
        let elapsed = (done - accepted).seconds
        let last = users.max()!
        guard try await storage.readInbox(of: last, after: nil, limit: 10).contains(where: { $0.messageID == sent.messageID }) else {
            throw ValidationError("the last member's copy is not readable")
        }
        let bytes = Double(storage.storeStatistics.logBytesWritten - logBytes) / Double(count)
        let growth = Double(max(0, Memory.peakResidentKiB() - rssBefore)) / 1024
        print(String(format: "%10d %14.4f %12.0f %12.1f %14.1f %14.3f", count, elapsed, Double(count) / elapsed, bytes, growth,
                     (accepted - sendStart).seconds * 1000))
        worker.stop()
        await running.value
        try await storage.close()
    }

    private func latency(senders: Int, sync: SyncMode) async throws {
        let (storage, path) = try open("latency-\(senders)", sync: sync)
        defer { cleanUp(path) }
        let service = MessagingService(storage: storage)
        let group = try await service.createGroup()
        let users = try await load(service, group: group, count: 10, parallelism: 10)
        let perSender = max(1, sends / senders)
        func measure(_ send: @escaping @Sendable (UserID) async throws -> Void) async throws -> [Double] {
            try await withThrowingTaskGroup(of: [Double].self) { tasks in
                for lane in 0..<senders {
                    tasks.addTask {
                        var samples: [Double] = []
                        samples.reserveCapacity(perSender)
                        let sender = users[lane % users.count]
                        for _ in 0..<perSender {
                            let start = ContinuousClock.now
                            try await send(sender)
                            samples.append((ContinuousClock.now - start).seconds * 1000)
                        }
                        return samples
                    }
                }
                var all: [Double] = []
                for try await samples in tasks { all += samples }
                return all.sorted()
            }
        }
        let recipient = users[1]
        let sendGroup: @Sendable (UserID) async throws -> Void = { sender in
            _ = try await service.sendGroupMessage(from: sender, to: group, content: "group")
        }
        let sendDirect: @Sendable (UserID) async throws -> Void = { sender in
            _ = try await service.sendDirectMessage(from: sender, to: recipient, content: "direct")
        }
        _ = try await measure(sendDirect)  // warm-up
        // The request path alone (no fan-out running: the messages wait in the queue) ...
        let groupAlone = try await measure(sendGroup)
        let direct = try await measure(sendDirect)
        // ... and with the fan-out worker delivering every message as it comes (its batch
        // commits and acks share the disk with the sends).
        let worker = FanOutWorker(storage: storage, options: FanOutOptions(membersPerBatch: batch), logger: Logger(label: "bench"))
        let running = Task { await worker.run() }
        while try await storage.fanOutQueueStatistics().depth > 0 { try await Task.sleep(for: .milliseconds(5)) }
        let groupWithFanOut = try await measure(sendGroup)
        while try await storage.fanOutQueueStatistics().depth > 0 { try await Task.sleep(for: .milliseconds(5)) }
        worker.stop()
        await running.value
        func percentile(_ samples: [Double], _ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
        print(String(format: "%8d %10.3f %10.3f %12.3f %12.3f %10.3f %10.3f", senders,
                     percentile(groupAlone, 0.5), percentile(groupAlone, 0.99),
                     percentile(groupWithFanOut, 0.5), percentile(groupWithFanOut, 0.99),
                     percentile(direct, 0.5), percentile(direct, 0.99)))
        try await storage.close()
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Resident memory of this process, from /proc/self/status.
private enum Memory {
    static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func residentKiB() -> Int { field("VmRSS") }
    static func peakResidentKiB() -> Int { field("VmHWM") }

    /// Resets the peak (VmHWM) to the current resident size (Linux: `echo 5 > /proc/self/clear_refs`).
    static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
}
