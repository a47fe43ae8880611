import Foundation
import Logging
import Messaging
import MessagingPostgresStorage
import PostgresTestSupport
import Synchronization
import Testing

/// What the PostgreSQL storage promises beyond the conformance suite: that
/// several servers (here: several storages, each with its own connection pool,
/// on one database) share it correctly — migrations, inbox order across
/// writers, the fan-out queue consumed by all. Runs on the test process's
/// throwaway PostgreSQL (``TestPostgres``), a fresh database per test.
@Suite struct PostgresStorageTests {
    static func open(_ url: String, connections: Int = 8) async throws -> PostgresMessagingStorage {
        try await PostgresMessagingStorage.open(options: PostgresStorageOptions(url: url, maxConnections: connections),
                                                logger: Logger(label: "test.postgres"))
    }

    static func database(_ url: String) -> String {
        String(url.split(separator: "/").last!.split(separator: "?").first!)
    }

    @Test func urlsAreParsedAndThePasswordIsNeverShown() throws {
        let options = try PostgresStorageOptions(url: "postgres://alice:s3cr%40t@db.example:6543/chat?sslmode=require")
        #expect(options.host == "db.example" && options.port == 6543 && options.username == "alice")
        #expect(options.password == "s3cr@t" && options.database == "chat" && options.tls == .require)
        #expect(!options.description.contains("s3cr"), "\(options)")
        let socket = try PostgresStorageOptions(url: "postgresql://bob@/bob?host=/run/postgresql")
        #expect(socket.unixSocketPath == "/run/postgresql/.s.PGSQL.5432" && socket.database == "bob" && socket.tls == .prefer)
        for bad in ["mysql://a@b/c", "postgres://host/db", "postgres://a@b/c?sslmode=maybe", "not a url"] {
            #expect(throws: PostgresURLError.self, "\(bad)") { try PostgresStorageOptions(url: bad) }
        }
        let error = #expect(throws: PostgresURLError.self) { try PostgresStorageOptions(url: "postgres://u:hunter2@h/d?sslmode=x") }
        #expect(error.map { !"\($0)".contains("hunter2") } == true)
    }

    /// Two servers starting at once on an empty database: one migrates, the other waits for its
    /// lock and finds everything applied; later starts apply nothing; a database migrated by a
    /// newer version is refused.
    @Test func migrationsAreVersionedIdempotentAndSafeWhenServersStartTogether() async throws {
        let server = try TestPostgres.shared()
        let url = try server.createDatabase()
        let name = Self.database(url)
        let storages = try await withThrowingTaskGroup(of: PostgresMessagingStorage.self) { group in
            for _ in 0..<3 { group.addTask { try await Self.open(url, connections: 2) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try server.psql(database: name, "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations") == "1")
        // Each can use the schema.
        let user = UserID.random()
        try await storages[0].createUser(user)
        #expect(try await storages[2].userExists(user))
        for storage in storages { try await storage.close() }
        let again = try await Self.open(url)
        #expect(try await again.userExists(user), "data kept, nothing re-created")
        try await again.close()
        #expect(try server.psql(database: name, "SELECT count(*) FROM schema_migrations") == "1")

        try server.psql(database: name, "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
        let refused = await #expect(throws: MessagingError.self) { _ = try await Self.open(url) }
        #expect(refused?.code == .unavailable && refused?.message.contains("999") == true, "\(String(describing: refused))")
    }

    @Test func anUnreachableDatabaseIsUnavailableWithoutThePassword() async throws {
        let port = try TestPostgres.shared().port
        // The right server, a database that does not exist; then no server at all (port 1).
        for url in ["postgres://postgres:topsecret@127.0.0.1:\(port)/no_such_database?sslmode=disable",
                    "postgres://postgres:topsecret@127.0.0.1:1/x?sslmode=disable"] {
            let error = await #expect(throws: MessagingError.self) { _ = try await Self.open(url) }
            #expect(error?.code == .unavailable)
            #expect(error.map { !$0.message.contains("topsecret") } == true, "\(String(describing: error))")
        }
    }

    /// The inbox contract across servers: writers on two storages (two connection pools, as two
    /// servers) send concurrently to one inbox while a reader polls it with the last date seen. The
    /// reader never sees a date at or before one it already saw, and in the end has seen every
    /// message exactly once, in date order.
    @Test func pollingSeesEveryMessageOnceInDateOrderWhileTwoServersWrite() async throws {
        let url = try TestPostgres.shared().createDatabase()
        let first = try await Self.open(url)
        let second = try await Self.open(url)
        let recipient = UserID.random()
        try await first.createUser(recipient)
        let writers = 8, perWriter = 40
        let done = Flag()
        let reader = Task { () -> (seen: [InboxMessage], problems: [String]) in
            var cursor: MessageDate?
            var problems: [String] = []
            var seen: [InboxMessage] = []
            while true {
                let finished = done.isSet
                let page = try await (Bool.random() ? first : second).readInbox(of: recipient, after: cursor, limit: 1000)
                for message in page {
                    if let cursor, message.date <= cursor { problems.append("\(message.date) after \(cursor)") }
                    cursor = message.date
                }
                seen += page
                if finished && page.isEmpty { return (seen, problems) }
            }
        }
        let sent = try await withThrowingTaskGroup(of: [MessageID].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let storage = writer % 2 == 0 ? first : second
                    var ids: [MessageID] = []
                    for index in 0..<perWriter {
                        let message = OutgoingMessage(messageID: .random(), sender: .random(), content: "\(writer).\(index)")
                        _ = try await storage.deliverDirectMessage(message, to: recipient)
                        ids.append(message.messageID)
                    }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        done.set()
        let (seen, problems) = try await reader.value
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(seen.count == writers * perWriter)
        #expect(Set(seen.map(\.messageID)) == Set(sent))
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.date < $1.date })
        try await first.close()
        try await second.close()
    }

    /// The fan-out queue consumed by two servers' workers at once: every member gets every group
    /// message exactly once, each inbox in date order, with direct sends interleaved.
    @Test func twoServersFanOutTogetherExactlyOncePerMember() async throws {
        let url = try TestPostgres.shared().createDatabase()
        let storages = [try await Self.open(url), try await Self.open(url)]
        let members = (0..<60).map { _ in UserID.random() }
        let group = GroupID.random()
        try await storages[0].createGroup(group)
        for member in members {
            try await storages[0].createUser(member)
            try await storages[1].addMember(member, to: group)
        }
        var sent: [MessageID: MessageDate] = [:]
        for index in 0..<6 {
            let message = OutgoingMessage(messageID: .random(), sender: members[index], content: "group \(index)")
            sent[message.messageID] = try await storages[index % 2].enqueueGroupMessage(message, to: group)
        }
        let options = FanOutOptions(consumers: 2, membersPerBatch: 7, lease: .seconds(30), receiveWait: .milliseconds(200))
        let workers = storages.map { FanOutWorker(storage: $0, options: options, logger: Logger(label: "test.fanout")) }
        let running = workers.map { worker in Task { await worker.run() } }
        // Direct sends to the same members meanwhile (their heads are locked by the batches too).
        for (index, member) in members.enumerated() {
            _ = try await storages[index % 2].deliverDirectMessage(
                OutgoingMessage(messageID: .random(), sender: members[0], content: "direct"), to: member)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while try await storages[0].fanOutQueueStatistics().depth > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        for worker in workers { worker.stop() }
        for task in running { await task.value }
        #expect(try await storages[0].fanOutQueueStatistics().depth == 0)
        #expect(workers.map(\.statistics.messagesDelivered).reduce(0, +) == 6)
        for member in members {
            let inbox = try await storages[1].readInbox(of: member, after: nil, limit: 100)
            let copies = inbox.filter { $0.groupID == group }
            #expect(copies.count == 6 && Set(copies.map(\.messageID)) == Set(sent.keys), "\(member): \(copies.count) copies")
            #expect(copies.allSatisfy { sent[$0.messageID] == $0.sentAt && $0.date > $0.sentAt && $0.recipient == member })
            #expect(inbox.count == 7)
            #expect(zip(inbox, inbox.dropFirst()).allSatisfy { $0.date < $1.date })
        }
        for storage in storages { try await storage.close() }
    }

    /// A receiver on one server is woken by a group send on another through LISTEN/NOTIFY: its
    /// fallback poll is set to 60 s, so only the notification can wake it within seconds.
    @Test func aGroupSendOnOneServerWakesAReceiverOnAnother() async throws {
        let url = try TestPostgres.shared().createDatabase()
        let sender = try await Self.open(url)
        let receiver = try await PostgresMessagingStorage.open(
            options: PostgresStorageOptions(url: url, maxConnections: 4, wakeInterval: .seconds(60)), logger: Logger(label: "test.postgres"))
        let group = GroupID.random()
        try await sender.createGroup(group)
        let waiting = Task { try await receiver.receiveGroupMessage(lease: .seconds(30), wait: .seconds(50)) }
        try await Task.sleep(for: .milliseconds(300))  // the receive is waiting now (a head start; not needed for correctness)
        let started = ContinuousClock.now
        let message = OutgoingMessage(messageID: .random(), sender: .random(), content: "wake up")
        _ = try await sender.enqueueGroupMessage(message, to: group)
        let lease = try #require(try await waiting.value)
        #expect(lease.message.messageID == message.messageID)
        #expect(ContinuousClock.now - started < .seconds(10), "woken by the notification, not the 60 s poll")
        let notifications = await receiver.metricsSnapshot().first { $0.name == "msgstore_postgres_notifications_total" }?.value
        #expect((notifications ?? 0) >= 1)
        try await sender.close()
        try await receiver.close()
    }

    /// A server that dies mid-fan-out (its storage closed with the message leased and a batch
    /// written): once the lease runs out another server receives it, resumes after the cursor,
    /// and every member has exactly one copy. The queue row names the holder (`leased_by`).
    @Test func anotherServerResumesAFanOutAfterTheLeaseRunsOut() async throws {
        let server = try TestPostgres.shared()
        let url = try server.createDatabase()
        let dying = try await Self.open(url)
        let survivor = try await Self.open(url)
        let members = (0..<10).map { _ in UserID.random() }.sorted()
        let group = GroupID.random()
        try await dying.createGroup(group)
        for member in members { try await dying.addMember(member, to: group) }
        let message = OutgoingMessage(messageID: .random(), sender: members[0], content: "resume me")
        _ = try await dying.enqueueGroupMessage(message, to: group)
        let lease = try #require(try await dying.receiveGroupMessage(lease: .milliseconds(500), wait: .zero))
        #expect(try await dying.deliverGroupMessageBatch(lease, maxMembers: 4).shape == BatchShape(copiesWritten: 4, isComplete: false))
        let holder = try server.psql(database: Self.database(url), "SELECT leased_by FROM fanout_queue")
        #expect(holder.hasSuffix("/\(ProcessInfo.processInfo.processIdentifier)"), "\(holder)")
        try await dying.close()
        #expect(try await survivor.receiveGroupMessage(lease: .seconds(30), wait: .zero) == nil, "still leased")
        let resumed = try #require(try await survivor.receiveGroupMessage(lease: .seconds(30), wait: .seconds(10)))
        #expect(resumed.deliveryAttempt == 2 && resumed.message.messageID == message.messageID)
        var batch = try await survivor.deliverGroupMessageBatch(resumed, maxMembers: 4)
        #expect(batch.shape == BatchShape(copiesWritten: 4, isComplete: false), "after the cursor: members 4...7")
        batch = try await survivor.deliverGroupMessageBatch(resumed, maxMembers: 4)
        #expect(batch.shape == BatchShape(copiesWritten: 2, isComplete: true))
        try await survivor.acknowledgeGroupMessage(resumed)
        for member in members {
            let inbox = try await survivor.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.map(\.content) == ["resume me"], "\(member)")
        }
        #expect(try await survivor.fanOutQueueStatistics().redeliveredTotal == 1)
        try await survivor.close()
    }

    /// The old holder of a lease taken over cannot write a batch any more: its next batch is
    /// refused (`leaseLost`), so it stops and leaves the message to the new holder.
    @Test func aBatchUnderALostLeaseIsRefused() async throws {
        let url = try TestPostgres.shared().createDatabase()
        let storage = try await Self.open(url)
        let group = GroupID.random()
        try await storage.createGroup(group)
        for _ in 0..<3 { try await storage.addMember(.random(), to: group) }
        _ = try await storage.enqueueGroupMessage(OutgoingMessage(messageID: .random(), sender: .random(), content: "x"), to: group)
        let old = try #require(try await storage.receiveGroupMessage(lease: .milliseconds(50), wait: .zero))
        let new = try #require(try await storage.receiveGroupMessage(lease: .seconds(30), wait: .seconds(5)))
        let error = await #expect(throws: FanOutError.self) { _ = try await storage.deliverGroupMessageBatch(old, maxMembers: 10) }
        #expect(error?.kind == .leaseLost)
        #expect(try await storage.deliverGroupMessageBatch(new, maxMembers: 10).shape == BatchShape(copiesWritten: 3, isComplete: true))
        try await storage.close()
    }
}

/// A flag set by one task and read by others.
private final class Flag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// A batch's copy count and completeness, for comparing batches without naming their recipients.
struct BatchShape: Equatable {
    var copiesWritten: Int
    var isComplete: Bool
}

extension FanOutBatch {
    /// The batch without its recipients.
    var shape: BatchShape { BatchShape(copiesWritten: copiesWritten, isComplete: isComplete) }
}
