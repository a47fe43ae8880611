import Foundation
import Logging
import Messaging
@testable import MessagingEngineStorage
import MsgStore
import Testing

/// The fan-out on the engine: the cost of accepting a message, poisoned
/// records, restarts in the middle of a fan-out.
@Suite(.serialized) struct EngineFanOutTests {
    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-fanout-\(UUID().uuidString)").path
    }

    static func open(_ directory: String, sync: SyncMode = .none) throws -> EngineMessagingStorage {
        try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: sync))
    }

    /// Accepting a group message performs exactly one fdatasync: the fan-out
    /// queue's group commit of the record. The store's log is not synced (the
    /// commit stamp for `sentAt` is taken with `sync: false`).
    @Test func groupSendPerformsExactlyOneFdatasync() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try Self.open(directory, sync: .always)
        let service = MessagingService(storage: storage)
        let alice = try await service.newUser()
        let group = try await service.newGroup(members: [alice, try await service.newUser()])
        for round in 0..<3 {
            let logSyncs = storage.storeStatistics.logSyncs
            let queueSyncs = storage.fanOutQueueStats.syncs
            let sent = try await service.sendGroupMessage(from: alice, to: group, content: "one sync \(round)")
            let logDelta = storage.storeStatistics.logSyncs - logSyncs
            let queueDelta = storage.fanOutQueueStats.syncs - queueSyncs
            print("group send \(round): store log fdatasyncs +\(logDelta), fan-out queue fdatasyncs +\(queueDelta)")
            #expect(logDelta == 0 && queueDelta == 1, "one fdatasync: the queue record")
            // For comparison, a direct send: one fdatasync of the log.
            let directLog = storage.storeStatistics.logSyncs
            let directQueue = storage.fanOutQueueStats.syncs
            _ = try await service.sendDirectMessage(from: alice, to: alice, content: "direct")
            #expect(storage.storeStatistics.logSyncs - directLog == 1 && storage.fanOutQueueStats.syncs == directQueue)
            #expect(sent.date > MessageDate(microsecondsSinceEpoch: 0))
        }
        try await storage.close()
    }

    /// A record that cannot be decoded is parked in `fanout.dlq` at once (an
    /// error logged, counted) without blocking the messages behind it; a
    /// message whose stored state is corrupt is parked by the worker, and
    /// once repaired a redrive delivers it exactly once.
    @Test func poisonedRecordsAreDeadLetteredAndARedriveDeliversARepairedOne() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try Self.open(directory)
        let service = MessagingService(storage: storage)
        let members = [try await service.newUser(), try await service.newUser(), try await service.newUser()]
        let group = try await service.newGroup(members: members)

        try await storage.enqueueRawFanOutRecord(Array("not a fan-out record".utf8))
        let healthy = try await service.sendGroupMessage(from: members[0], to: group, content: "healthy")
        let broken = OutgoingMessage(messageID: .random(), sender: members[0], content: "broken")
        _ = try await storage.enqueueGroupMessage(broken, to: group)
        // Corrupt state: a 5-byte cursor for the second message (the worker refuses to guess).
        var batch = WriteBatch()
        batch.put(try storage.store.table("fanout"), RowKey(partitionKey: EngineMessagingLayout.bytes(broken.messageID.uuid)),
                  value: [1, 2, 3, 4, 5])
        try await storage.store.write(batch)

        let worker = RunningWorker(storage: storage)
        try await eventually { try await storage.fanOutQueueStatistics().deadLetters == 2 }
        try await eventually { try await storage.fanOutQueueStatistics().depth == 0 }
        let stats = try await storage.fanOutQueueStatistics()
        #expect(stats.deadLetteredTotal == 2)
        // The worker counts its park once the storage call returned, a moment after the queue shows it.
        try await eventually { worker.worker.statistics.deadLettered >= 1 }
        #expect(worker.worker.statistics.deadLettered == 1, "the corrupt cursor; the undecodable record is parked by receive")
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.map(\.messageID) == [healthy.messageID], "the healthy message went through")
        }

        // Repair the state, then redrive: the repaired message is delivered once to every member;
        // the undecodable record goes back to the dead-letter queue.
        var repair = WriteBatch()
        repair.delete(try storage.store.table("fanout"), RowKey(partitionKey: EngineMessagingLayout.bytes(broken.messageID.uuid)))
        try await storage.store.write(repair)
        #expect(try await service.redriveGroupMessages() == 2)
        try await eventually { try await storage.fanOutQueueStatistics().depth == 0 }
        try await eventually { try await storage.fanOutQueueStatistics().deadLetters == 1 }
        await worker.stop()
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.map(\.messageID) == [healthy.messageID, broken.messageID])
        }
        #expect(try await storage.fanOutQueueStatistics().deadLetteredTotal == 3)
        try await storage.close()
    }

    /// Ten restarts in the middle of one fan-out (each one loses the lease,
    /// so the message is delivered again: attempt 11 and more, far past the
    /// queue's default limit of 5) never dead-letter it, and every member
    /// gets exactly one copy. The cursor row is gone at the end.
    @Test func tenRestartsDuringOneFanOutNeverDeadLetterIt() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var storage = try Self.open(directory)
        var service = MessagingService(storage: storage)
        var members: [UserID] = []
        for _ in 0..<600 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "restarts")
        var lastAttempt = 0
        var written: UInt64 = 0
        for restart in 0..<10 {
            // A slow worker (5 ms per batch of 5) so that each run ends mid-fan-out.
            let slow = FaultyStorage(storage, batchDelay: .milliseconds(5))
            let worker = RunningWorker(storage: slow, options: FanOutOptions(consumers: 1, membersPerBatch: 5))
            try await eventually { worker.worker.statistics.copiesWritten >= 10 }
            await worker.stop()
            written += worker.worker.statistics.copiesWritten
            #expect(try await slow.fanOutQueueStatistics().deadLetters == 0, "restart \(restart)")
            try await storage.close()
            storage = try Self.open(directory)
            service = MessagingService(storage: storage)
            let lease = try #require(try await storage.receiveGroupMessage(lease: .zero, wait: .zero), "restart \(restart)")
            #expect(lease.deliveryAttempt > lastAttempt)
            lastAttempt = lease.deliveryAttempt
        }
        #expect(lastAttempt > 10 && written < UInt64(members.count))
        let final = storage
        let worker = RunningWorker(storage: final)
        try await eventually { try await final.fanOutQueueStatistics().depth == 0 }
        await worker.stop()
        #expect(try await storage.fanOutQueueStatistics().deadLetters == 0)
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.map(\.messageID) == [sent.messageID])
        }
        #expect(try storage.store.scan(try storage.store.table("fanout"),
                                       partitionKey: EngineMessagingLayout.bytes(sent.messageID.uuid), limit: 10).isEmpty,
                "the cursor is reclaimed")
        #expect(try storage.store.get(try storage.store.table("bodies"),
                                      RowKey(partitionKey: EngineMessagingLayout.bytes(sent.messageID.uuid))) != nil)
        try await storage.close()
    }

    /// Runs the `msgstore` binary built next to the tests; returns (status, stdout).
    static func msgstore(_ arguments: [String]) throws -> (Int32, String) {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("msgstore")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `msgstore queue list` shows a dead letter with its reason; `msgstore
    /// queue redrive` puts it back into the queue of the (stopped) data directory.
    @Test func queueCommandListsAndRedrivesDeadLetters() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var storage = try Self.open(directory)
        try await storage.enqueueRawFanOutRecord(Array("garbage".utf8))
        #expect(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero) == nil, "parked, not handed out")
        #expect(try await storage.fanOutQueueStatistics().deadLetters == 1)
        try await storage.close()

        let (listed, json) = try Self.msgstore(["queue", "list", directory, "--queue", "fanout", "--json"])
        #expect(listed == 0)
        let letters = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
        #expect(letters.count == 1)
        #expect((letters.first?["reason"] as? String)?.contains("malformed fan-out record") == true, "\(json)")
        #expect(letters.first?["message"] as? String == "undecodable fan-out record")
        let (_, text) = try Self.msgstore(["queue", "list", directory])
        #expect(text.contains("dead letters of") && text.contains("msgstore queue redrive"), "\(text)")

        let (redriven, output) = try Self.msgstore(["queue", "redrive", directory, "--queue", "fanout"])
        #expect(redriven == 0 && output.contains("redriven: 1"), "\(output)")
        let (_, empty) = try Self.msgstore(["queue", "list", directory, "--json"])
        #expect(empty.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || empty.contains("[]"), "\(empty)")

        storage = try Self.open(directory)
        #expect(try await storage.fanOutQueueStatistics().depth == 1, "back in the queue")
        try await storage.close()
    }
}
