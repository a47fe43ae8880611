import Foundation
import Messaging
import MessagingEngineStorage
import Synchronization
import Testing

/// The service's long poll (`inbox(of:after:limit:waitingUpTo:)`) and stream
/// (`followInbox`): woken by direct messages and group copies, on both storages.
@Suite struct WaitingForMessagesTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case memory, engine
        var testDescription: String { rawValue }

        func make() throws -> any MessagingStorage {
            switch self {
            case .memory: return InMemoryMessagingStorage()
            case .engine:
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-wait-\(UUID().uuidString)").path
                return try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: .none))
            }
        }
    }

    /// A service and a worker sharing one notifier, as the server wires them.
    struct Setup {
        let storage: any MessagingStorage
        let service: MessagingService
        let worker: RunningWorker

        init(_ backend: Backend = .memory, maxWaiters: Int = 100) throws {
            storage = try backend.make()
            let notifier = InboxNotifier(maxWaiters: maxWaiters)
            service = MessagingService(storage: storage, notifier: notifier)
            worker = RunningWorker(storage: storage, options: FanOutOptions(consumers: 2, membersPerBatch: 2), notifier: notifier)
        }

        func stop() async throws {
            await worker.stop()
            try await storage.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func longPollReturnsPromptlyAfterADirectMessage(backend: Backend) async throws {
        let setup = try Setup(backend)
        let service = setup.service
        let alice = try await service.newUser(), bob = try await service.newUser()
        let start = ContinuousClock.now
        let poll = Task { try await service.inbox(of: bob, after: nil, limit: nil, waitingUpTo: .seconds(10)) }
        try await eventually { service.notifier.waiterCount == 1 }
        let sent = try await service.sendDirectMessage(from: alice, to: bob, content: "hi")
        let page = try await poll.value
        #expect(page.messages.map(\.messageID) == [sent.messageID])
        #expect(ContinuousClock.now - start < .seconds(5), "woken, not timed out")
        #expect(service.notifier.waiterCount == 0)
        try await setup.stop()
    }

    /// Every member's waiting poll, the sender's own included, wakes for its copy.
    @Test(arguments: Backend.allCases)
    func longPollReturnsPromptlyAfterAGroupCopy(backend: Backend) async throws {
        let setup = try Setup(backend)
        let service = setup.service
        var users: [UserID] = []
        for _ in 0..<5 { users.append(try await service.newUser()) }
        let members = users
        let group = try await service.newGroup(members: members)
        let start = ContinuousClock.now
        let polls = members.map { member in
            Task { try await service.inbox(of: member, after: nil, limit: nil, waitingUpTo: .seconds(10)) }
        }
        try await eventually { service.notifier.waiterCount == members.count }
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "hello")
        for (member, poll) in zip(members, polls) {
            let page = try await poll.value
            #expect(page.messages.map(\.messageID) == [sent.messageID], "member \(member)")
            #expect(page.messages.first?.groupID == group)
        }
        #expect(ContinuousClock.now - start < .seconds(5), "woken, not timed out")
        try await setup.stop()
    }

    @Test func longPollReturnsAtOnceWhenAMessageIsThere() async throws {
        let setup = try Setup(maxWaiters: 0)  // it must not even need a waiter slot
        let service = setup.service
        let alice = try await service.newUser(), bob = try await service.newUser()
        let first = try await service.sendDirectMessage(from: alice, to: bob, content: "one")
        let second = try await service.sendDirectMessage(from: alice, to: bob, content: "two")
        let start = ContinuousClock.now
        let page = try await service.inbox(of: bob, after: first.date, limit: nil, waitingUpTo: .seconds(10))
        #expect(page.messages.map(\.messageID) == [second.messageID])
        #expect(ContinuousClock.now - start < .seconds(2))
        try await setup.stop()
    }

    @Test func longPollTimesOutWithAnEmptyPage() async throws {
        let setup = try Setup()
        let service = setup.service
        let alice = try await service.newUser(), bob = try await service.newUser()
        let sent = try await service.sendDirectMessage(from: alice, to: bob, content: "old")
        let start = ContinuousClock.now
        let page = try await service.inbox(of: bob, after: sent.date, limit: nil, waitingUpTo: .milliseconds(200))
        let elapsed = ContinuousClock.now - start
        #expect(page.messages.isEmpty && page.nextPageToken == nil)
        #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(3))
        #expect(service.notifier.waiterCount == 0)
        try await setup.stop()
    }

    @Test func longPollBeyondTheWaiterLimitIsRefusedAndAnUnknownRecipientIsNotFound() async throws {
        let setup = try Setup(maxWaiters: 1)
        let service = setup.service
        let alice = try await service.newUser(), bob = try await service.newUser()
        let poll = Task { try await service.inbox(of: alice, after: nil, limit: nil, waitingUpTo: .seconds(10)) }
        try await eventually { service.notifier.waiterCount == 1 }
        await #expect(throws: InboxWaiterLimitError(limit: 1)) {
            try await service.inbox(of: bob, after: nil, limit: nil, waitingUpTo: .seconds(10))
        }
        await #expect(throws: InboxWaiterLimitError(limit: 1)) { try await service.subscribeToInbox(of: bob) }
        await #expect(throws: MessagingError.self) {
            try await service.inbox(of: .random(), after: nil, limit: nil, waitingUpTo: .seconds(10))
        }
        _ = try await service.sendDirectMessage(from: bob, to: alice, content: "release")
        #expect(try await poll.value.messages.count == 1)
        try await setup.stop()
    }

    /// Many senders racing many waiting polls, direct and group messages mixed:
    /// every poll that should see a message sees it, and none sits out its wait.
    @Test func noLostWakeUpUnderConcurrentSends() async throws {
        let setup = try Setup(maxWaiters: 1000)
        let service = setup.service
        var readers: [UserID] = []
        for _ in 0..<12 { readers.append(try await service.newUser()) }
        let sender = try await service.newUser()
        let group = try await service.newGroup(members: [sender] + readers.prefix(4))
        let rounds = 15
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, reader) in readers.enumerated() {
                let inGroup = index < 4
                // The reader: long polls from the last date it saw, until it has every message.
                tasks.addTask {
                    let expected = rounds * (inGroup ? 2 : 1)
                    var seen: [InboxMessage] = []
                    while seen.count < expected {
                        let page = try await service.inbox(of: reader, after: seen.last?.date, limit: 5, waitingUpTo: .seconds(8))
                        #expect(!page.messages.isEmpty, "a poll sat out its wait with \(seen.count) of \(expected) seen: a lost wake-up")
                        if page.messages.isEmpty { return }
                        seen += page.messages
                    }
                    #expect(Set(seen.map(\.messageID)).count == expected)
                }
                // Its sender: one direct message per round, at random moments.
                tasks.addTask {
                    for round in 0..<rounds {
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
                        _ = try await service.sendDirectMessage(from: sender, to: reader, content: "d\(round)")
                    }
                }
            }
            tasks.addTask {
                for round in 0..<rounds {
                    try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
                    _ = try await service.sendGroupMessage(from: sender, to: group, content: "g\(round)")
                }
            }
            try await tasks.waitForAll()
        }
        #expect(ContinuousClock.now - start < .seconds(8))
        #expect(service.notifier.waiterCount == 0)
        try await setup.stop()
    }

    /// The stream: in date order, and a "reconnect" from the last date handed
    /// over (the Last-Event-ID) continues with no gap and no repeat.
    @Test(arguments: Backend.allCases)
    func followDeliversInOrderAndResumesWithoutGapOrRepeat(backend: Backend) async throws {
        let setup = try Setup(backend)
        let service = setup.service
        let reader = try await service.newUser()
        var senders: [UserID] = []
        for _ in 0..<3 { senders.append(try await service.newUser()) }
        let group = try await service.newGroup(members: [reader] + senders)
        let perSender = 20
        let expected = senders.count * perSender
        let received = Locked<[InboxMessage]>([])

        let sending = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for sender in senders {
                    tasks.addTask {
                        for number in 0..<perSender {
                            if number % 4 == 0 {
                                _ = try await service.sendGroupMessage(from: sender, to: group, content: "g\(number)")
                            } else {
                                _ = try await service.sendDirectMessage(from: sender, to: reader, content: "d\(number)")
                            }
                            try await Task.sleep(for: .microseconds(Int.random(in: 1000...3000)))
                        }
                    }
                }
                try await tasks.waitForAll()
            }
        }
        // First connection: taken down (cancelled) once it has a third of the messages.
        func follow(after start: MessageDate?, until count: Int) async throws {
            let subscription = try await service.subscribeToInbox(of: reader)
            let stream = Task {
                try await service.followInbox(
                    subscription, after: start, idleInterval: .seconds(30),
                    onMessages: { messages in received.withLock { $0 += messages } }, onIdle: {})
            }
            try await eventually(timeout: .seconds(20)) { received.withLock { $0.count } >= count }
            stream.cancel()
            #expect(try await stream.value == .cancelled)
        }
        try await follow(after: nil, until: expected / 3)
        let firstPart = received.withLock { $0.count }
        #expect(firstPart < expected, "the first connection ended before the end (sends go on)")
        // Disconnected for a moment while the senders go on, then resumed from the last id.
        try await Task.sleep(for: .milliseconds(20))
        try await follow(after: received.withLock { $0.last?.date }, until: expected)
        try await sending.value

        let all = received.withLock { $0 }
        #expect(all.count == expected, "nothing repeated")
        #expect(Set(all.map(\.messageID)).count == expected, "nothing missed")
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.date < $1.date }, "date order")
        #expect(all.map(\.messageID) == (try await readWholeInbox(service, of: reader, limit: 1000)).map(\.messageID),
                "the stream is the inbox")
        try await setup.stop()
    }

    @Test func followCallsOnIdleWhenNothingArrivesAndEndsOnShutdown() async throws {
        let setup = try Setup()
        let service = setup.service
        let reader = try await service.newUser()
        let idles = Locked(0)
        let subscription = try await service.subscribeToInbox(of: reader)
        let stream = Task {
            try await service.followInbox(
                subscription, after: nil, idleInterval: .milliseconds(50),
                onMessages: { _ in }, onIdle: { idles.withLock { $0 += 1 } })
        }
        try await eventually { idles.withLock { $0 } >= 3 }
        let start = ContinuousClock.now
        service.notifier.shutDown()
        #expect(try await stream.value == .shutDown)
        #expect(ContinuousClock.now - start < .seconds(2))
        try await setup.stop()
    }
}

/// A value behind a lock, shareable between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
