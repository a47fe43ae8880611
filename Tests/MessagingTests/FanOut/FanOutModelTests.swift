import Foundation
import Messaging
@testable import MessagingEngineStorage
import Testing

/// The fan-out's delivery state machine against a model, over random
/// schedules: sends, membership changes, receives (short leases make several
/// holders of one message, as concurrent workers after a lease ran out),
/// batches of random sizes by any holder, acknowledgements by stale and
/// current holders, and — on the engine — a crash (close and reopen: every
/// lease lost) between any two steps. The model says, for every batch, which
/// members get a copy (the rule of docs/fanout.md) and whether the message is
/// complete; at the end every member has exactly the copies the model says.
@Suite struct FanOutModelTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case memory, engine
        var testDescription: String { rawValue }
    }

    /// The model of one message: its cursor (index into the sorted users), who got it, whether it is done.
    struct ModelMessage {
        var id: MessageID
        var sentAt: MessageDate
        var cursor: UserID?
        var started = false
        var delivered = Set<UserID>()
        var isComplete = false
    }

    final class Harness {
        let backend: Backend
        let directory: String
        var storage: any MessagingStorage

        init(backend: Backend) throws {
            self.backend = backend
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-fanout-model-\(UUID().uuidString)").path
            storage = try Self.open(backend, directory)
        }

        static func open(_ backend: Backend, _ directory: String) throws -> any MessagingStorage {
            switch backend {
            case .memory: return InMemoryMessagingStorage()
            case .engine: return try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: .none))
            }
        }

        func crash() async throws {
            try await storage.close()
            storage = try Self.open(backend, directory)
        }

        func finish() async throws {
            try await storage.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test(arguments: Backend.allCases)
    func deliveryMatchesTheModelOverRandomSchedules(backend: Backend) async throws {
        let baseSeed = testSeed("FanOutModelTests.\(backend.rawValue)")
        for round in 0..<(backend == .engine ? 6 : 20) {
            try await runSchedule(backend: backend, seed: baseSeed &+ UInt64(round))
        }
    }

    private func runSchedule(backend: Backend, seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let harness = try Harness(backend: backend)
        let users = (0..<8).map { _ in UserID.random() }.sorted()
        let group = GroupID.random()
        try await harness.storage.createGroup(group)
        for user in users { try await harness.storage.createUser(user) }
        // users[0] is always a member (never removed), so a first batch is never empty.
        var members: Set<UserID> = [users[0]]
        for user in users.dropFirst() where Bool.random(using: &random) { members.insert(user) }
        for user in members { try await harness.storage.addMember(user, to: group) }
        var messages: [MessageID: ModelMessage] = [:]
        var held: [GroupMessageLease] = []
        let context = "seed \(seed) (MSGSTORE_SEED=\(seed))"

        func batch(_ lease: GroupMessageLease, maxMembers: Int) async throws {
            var model = try #require(messages[lease.message.messageID], "\(context)")
            let result = try await harness.storage.deliverGroupMessageBatch(lease, maxMembers: maxMembers)
            if model.isComplete {
                #expect(result == FanOutBatch(recipients: [], isComplete: true), "\(context): complete stays complete")
                return
            }
            let after = members.filter { model.cursor == nil || $0 > model.cursor! }.sorted()
            let page = after.prefix(maxMembers)
            let isLast = after.count <= maxMembers
            #expect(result == FanOutBatch(recipients: Array(page), isComplete: isLast), "\(context): batch of \(maxMembers)")
            model.delivered.formUnion(page)
            model.cursor = isLast ? nil : page.last
            model.isComplete = isLast
            messages[lease.message.messageID] = model
        }

        for _ in 0..<120 {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<12:
                let sender = members.sorted()[Int.random(in: 0..<members.count, using: &random)]
                let message = OutgoingMessage(messageID: .random(), sender: sender, content: "m\(messages.count)")
                let sentAt = try await harness.storage.enqueueGroupMessage(message, to: group)
                #expect(messages.values.allSatisfy { $0.sentAt < sentAt }, "\(context): sentAt increases")
                messages[message.messageID] = ModelMessage(id: message.messageID, sentAt: sentAt)
            case 12..<22:
                let user = users[Int.random(in: 1..<users.count, using: &random)]
                if members.contains(user) {
                    try await harness.storage.removeMember(user, from: group)
                    members.remove(user)
                } else {
                    try await harness.storage.addMember(user, to: group)
                    members.insert(user)
                }
            case 22..<42:
                // A zero lease runs out at once: the next receive makes a second holder of the same message.
                let duration: Duration = Bool.random(using: &random) ? .zero : .seconds(60)
                if let lease = try await harness.storage.receiveGroupMessage(lease: duration, wait: .zero) {
                    #expect(messages[lease.message.messageID] != nil, "\(context): receives only what was sent")
                    held.append(lease)
                }
            case 42..<80 where !held.isEmpty:
                let lease = held[Int.random(in: 0..<held.count, using: &random)]
                try await batch(lease, maxMembers: Int.random(in: 1...3, using: &random))
            case 80..<92 where !held.isEmpty:
                let index = Int.random(in: 0..<held.count, using: &random)
                let lease = held[index]
                if messages[lease.message.messageID]?.isComplete == true {
                    try await harness.storage.acknowledgeGroupMessage(lease)
                    held.remove(at: index)
                }
            case 92..<97 where backend == .engine:
                try await harness.crash()
                held.removeAll()
            default:
                break
            }
        }
        // Drain: the holders finish their messages (acks of stale leases are ignored), then
        // whatever is still queued is completed by whoever receives it now.
        for lease in held {
            while messages[lease.message.messageID]?.isComplete == false {
                try await batch(lease, maxMembers: Int.random(in: 1...3, using: &random))
            }
            try await harness.storage.acknowledgeGroupMessage(lease)
        }
        held.removeAll()
        if backend == .engine { try await harness.crash() }
        while let lease = try await harness.storage.receiveGroupMessage(lease: .seconds(60), wait: .zero) {
            var complete = false
            while !complete {
                try await batch(lease, maxMembers: Int.random(in: 1...3, using: &random))
                complete = messages[lease.message.messageID]?.isComplete ?? true
            }
            try await harness.storage.acknowledgeGroupMessage(lease)
        }
        #expect(try await harness.storage.fanOutQueueStatistics().depth == 0, "\(context)")
        for user in users {
            let inbox = try await harness.storage.readInbox(of: user, after: nil, limit: 1000)
            #expect(zip(inbox, inbox.dropFirst()).allSatisfy { $0.date < $1.date }, "\(context): inbox in date order")
            for (id, model) in messages {
                let copies = inbox.filter { $0.messageID == id }
                #expect(copies.count == (model.delivered.contains(user) ? 1 : 0), "\(context): copies of \(id) for \(user)")
                #expect(copies.allSatisfy { $0.sentAt == model.sentAt && $0.date > model.sentAt }, "\(context)")
            }
        }
        try await harness.finish()
    }
}
