import Foundation
import Logging
import Messaging
import MsgStoreTestHelper
import Testing

/// Polls `condition` until it holds or `timeout` passes.
func eventually(
    timeout: Duration = .seconds(10), _ what: String = "condition",
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out waiting for \(what)")
}

/// Every message of an inbox, walked page by page with `limit`, checking the paging rules on the way.
func readWholeInbox(_ service: MessagingService, of user: UserID, limit: Int?) async throws -> [InboxMessage] {
    var all: [InboxMessage] = []
    var cursor: MessageDate?
    while true {
        let page = try await service.inbox(of: user, after: cursor, limit: limit)
        all += page.messages
        let pageSize = limit ?? service.limits.pageSizeDefault
        #expect(page.messages.count <= pageSize)
        guard let token = page.nextPageToken else { break }
        #expect(page.messages.count == pageSize, "a page with a next token is full")
        #expect(token == page.messages.last?.date)
        cursor = token
    }
    return all
}

/// A started fan-out worker, stopped by `stop()`.
struct RunningWorker {
    let worker: FanOutWorker
    let task: Task<Void, Never>

    init(storage: any MessagingStorage, options: FanOutOptions = FanOutOptions(), notifier: InboxNotifier? = nil) {
        let worker = FanOutWorker(storage: storage, options: options, notifier: notifier, logger: Logger(label: "test"))
        self.worker = worker
        self.task = Task { await worker.run() }
    }

    func stop() async {
        worker.stop()
        await task.value
    }
}

/// The seed of a randomized test: `MSGSTORE_SEED` from the environment, or a
/// fresh one; printed so that a failure can be replayed.
func testSeed(_ test: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["MSGSTORE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
    print("\(test): MSGSTORE_SEED=\(seed)")
    return seed
}

/// The deterministic generator of seeded tests (SplitMix64, shared with the engine's tests).
typealias SeededGenerator = SplitMix

extension MessagingService {
    /// A user who exists.
    func newUser() async throws -> UserID { try await createUser() }

    /// A group with the given members.
    func newGroup(members: [UserID]) async throws -> GroupID {
        let group = try await createGroup()
        for member in members { try await addMember(member, to: group) }
        return group
    }
}
