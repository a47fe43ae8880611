import Foundation
import Logging
import Messaging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// ``MessagingStorage`` on PostgreSQL (or Citus), shared by any number of
/// `msgstore serve` processes (design and costs: docs/scaling.md).
///
/// - **Dates, per inbox.** Every inbox has a head row (`inbox_heads`: the last
///   date handed out in it). A transaction that adds to an inbox upserts that
///   row first — `last_date = max(now µs, last_date + 1)`, the database's
///   clock — which locks it until the commit, and writes the entry with that
///   date. So the writes of one inbox commit one after another in date order,
///   on whichever server they come from: a reader never sees a date before an
///   earlier one is visible, and dates in an inbox are unique and increasing.
///   Group messages take their acceptance date (`sentAt`) the same way from
///   their group's row, so `sentAt` is unique and increasing per group; a copy
///   is dated after its `sentAt`. Dates are not unique across inboxes (nothing
///   reads them that way), which keeps a send within one inbox's rows.
/// - **Fan-out.** A group send inserts one `fanout_queue` row (the whole
///   message) and NOTIFYs; every server's consumers lease rows with
///   `FOR UPDATE SKIP LOCKED`, so any server may finish a fan-out another began.
///   A batch locks the queue row, reads the next members after its cursor,
///   writes their copies (each through its inbox head, locked in user id order
///   so that concurrent batches cannot deadlock), the body on the first batch,
///   and the new cursor — one transaction. A server killed mid-fan-out leaves
///   the row leased until the lease runs out; then another server resumes after
///   the cursor: every member gets exactly one copy.
public final class PostgresMessagingStorage: MessagingStorage {
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let listenTask = Mutex<Task<Void, Never>?>(nil)
    /// Passed to postgres-nio with every query: at notice and above only, or a debug log would
    /// carry a line per query.
    private let logger: Logger
    /// This storage's own events (retries, a broken LISTEN connection).
    private let eventLogger: Logger
    private let options: PostgresStorageOptions
    private let doorbell = Doorbell()
    private let state = State()

    /// Whether the storage is open, and its counters (shared with the listening task).
    private final class State: Sendable {
        let isOpen = Atomic<Bool>(true)
        let deadLettered = Atomic<UInt64>(0)
        let redelivered = Atomic<UInt64>(0)
        let transactionRetries = Atomic<UInt64>(0)
        let notifications = Atomic<UInt64>(0)
    }

    /// The NOTIFY channel of the fan-out queue.
    static let channel = "msgstore_fanout"

    /// The database's clock in microseconds since 1970 (SQL).
    static let nowMicros = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

    /// The lease receipt of this storage: the queue row and the lease's token.
    struct Receipt: Sendable {
        var queueID: Int64
        var token: UUID
    }

    /// Connects, brings the schema up to date (``PostgresSchema``: versioned,
    /// under an advisory lock) and starts listening for fan-out notifications.
    /// - Throws: ``MessagingError`` `.unavailable` when the database cannot be
    ///   reached or migrated (the reason, never the password, in the message).
    public static func open(options: PostgresStorageOptions, logger: Logger = Logger(label: "msgstore.postgres")) async throws
        -> PostgresMessagingStorage {
        // One connection of its own first: it fails at once with the server's reason (the pool
        // would retry a refused connection in the background), and migrates.
        do {
            let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(options), id: 0,
                                                                  logger: logger)
            do {
                let applied = try await PostgresSchema.migrate(connection, logger: logger)
                if !applied.isEmpty {
                    logger.notice("database schema migrated", metadata: ["database": "\(options)", "versions": "\(applied)"])
                }
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            if let error = Self.unwrap(error) as? PostgresURLError { throw MessagingError(.unavailable, error.description) }
            throw MessagingError(.unavailable, "Cannot open the database \(options): \(Self.describe(error))")
        }
        let storage = PostgresMessagingStorage(options: options, logger: logger)
        await storage.waitUntilRunning()
        // Serve only once LISTEN is in place (at most 5 s: receivers poll meanwhile), so that a
        // group message another server accepts right after this one started wakes it at once.
        let (listening, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        storage.startListening(signal: signal)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in listening { return } }
            group.addTask { try? await Task.sleep(for: .seconds(5)) }
            await group.next()
            group.cancelAll()
        }
        return storage
    }

    /// The configuration of a single connection (the migrating one).
    private static func connectionConfiguration(_ options: PostgresStorageOptions) throws -> PostgresConnection.Configuration {
        if let socket = options.unixSocketPath {
            return .init(unixSocketPath: socket, username: options.username, password: options.password, database: options.database)
        }
        let tls: PostgresConnection.Configuration.TLS
        switch options.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return .init(host: options.host, port: options.port, username: options.username, password: options.password,
                     database: options.database, tls: tls)
    }

    private init(options: PostgresStorageOptions, logger: Logger) {
        var configuration: PostgresClient.Configuration
        if let socket = options.unixSocketPath {
            configuration = .init(unixSocketPath: socket, username: options.username, password: options.password,
                                  database: options.database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch options.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            configuration = .init(host: options.host, port: options.port, username: options.username,
                                  password: options.password, database: options.database, tls: tls)
        }
        // One more for the listening connection, which stays leased.
        configuration.options.maximumConnections = options.maxConnections + 1
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(10)
        var quietLogger = logger
        quietLogger.logLevel = max(logger.logLevel, .notice)
        var backgroundLogger = logger
        backgroundLogger.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: configuration, backgroundLogger: backgroundLogger)
        self.client = client
        self.options = options
        self.logger = quietLogger
        self.eventLogger = logger
        let (started, continuation) = AsyncStream<Void>.makeStream()
        self.started = started
        runTask = Task {
            continuation.finish()
            await client.run()
        }
    }

    private let started: AsyncStream<Void>

    /// Returns once the pool's task has entered `run()` (which marks the pool running in its first
    /// step): a lease before that only works after a warning in the log.
    private func waitUntilRunning() async {
        for await _ in started {}
        await Task.yield()
    }

    // MARK: Plumbing

    /// The error a transaction wraps, or the error itself.
    private static func unwrap(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.commitError ?? transaction.beginError { return unwrap(inner) }
        }
        return error
    }

    /// The SQLSTATE of a server error (e.g. 40P01 for a deadlock).
    private static func sqlState(_ error: any Error) -> String? {
        (unwrap(error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// A sentence for the log and the 503 body: the server's message and SQLSTATE, or the
    /// client's error code. PSQLError's own description hides everything on purpose.
    static func describe(_ error: any Error) -> String {
        let error = unwrap(error)
        if let error = error as? PSQLError {
            if let info = error.serverInfo, let message = info[.message] {
                return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }

    /// Runs `body` if the storage is open, turning database failures into `.unavailable`.
    /// Deadlocks and serialization failures (which roll the transaction back) are retried.
    private func database<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            guard state.isOpen.load(ordering: .acquiring) else { throw MessagingError(.unavailable, "The store is closed.") }
            do {
                return try await body()
            } catch {
                let inner = Self.unwrap(error)
                if inner is MessagingError || inner is FanOutError || inner is CancellationError { throw inner }
                if let code = Self.sqlState(error), code == "40P01" || code == "40001", attempt < 8 {
                    attempt += 1
                    state.transactionRetries.add(1, ordering: .relaxed)
                    eventLogger.debug("transaction retried", metadata: ["sqlstate": "\(code)", "attempt": "\(attempt)"])
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 << min(attempt, 5)))))
                    continue
                }
                guard state.isOpen.load(ordering: .acquiring) else { throw MessagingError(.unavailable, "The store is closed.") }
                throw MessagingError(.unavailable, "The database cannot take this request now: \(Self.describe(error))")
            }
        }
    }

    /// Runs `body` in a transaction (retried on a deadlock). Every write goes through one:
    /// PostgreSQL commits a statement run outside a transaction only when the client's Sync
    /// arrives, after the statement's CommandComplete — which is where postgres-nio ends a
    /// query — so a lone statement could return before it is committed (durable, visible to
    /// other connections). `COMMIT` itself completes only once committed.
    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await database {
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    /// Runs one write statement as `BEGIN; statement; COMMIT` **in one round trip**: the three
    /// are written to the connection back to back (postgres-nio queues them; the server runs
    /// them in order) and only then awaited. Returns once `COMMIT` has completed, so the write
    /// is committed (see ``transaction(_:)`` for why not a lone statement). If the statement
    /// fails, the server skips to the `COMMIT`, which then rolls the transaction back.
    private func write<T: Sendable>(_ query: PostgresQuery, _ decode: @Sendable ([PostgresRow]) throws -> T) async throws -> T {
        let logger = self.logger
        return try await database {
            try await client.withConnection { connection -> T in
                let begin: EventLoopFuture<PostgresQueryResult> = connection.query("BEGIN", logger: logger)
                let statement: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
                let commit: EventLoopFuture<PostgresQueryResult> = connection.query("COMMIT", logger: logger)
                do {
                    _ = try await begin.get()
                    let result = try await statement.get()
                    let committed = try await commit.get()
                    guard committed.metadata.command == "COMMIT" else {
                        throw MessagingError(.unavailable, "The database rolled the write back (\(committed.metadata.command)).")
                    }
                    return try decode(result.rows)
                } catch {
                    // Whatever failed, wait for the rest so the connection goes back to the pool idle.
                    _ = try? await statement.get()
                    _ = try? await commit.get()
                    throw error
                }
            }
        }
    }

    /// Runs one write statement in a transaction (one round trip).
    private func execute(_ query: PostgresQuery) async throws {
        try await write(query) { _ in () }
    }

    /// Runs one write statement in a transaction (one round trip); whether it returned a row.
    private func executeReturningRow(_ query: PostgresQuery) async throws -> Bool {
        try await write(query) { !$0.isEmpty }
    }

    /// Whether a prepared statement returns at least one row.
    private func exists<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> Bool {
        try await database {
            for try await _ in try await client.execute(statement, logger: logger) { return true }
            return false
        }
    }

    // MARK: Users and blocks

    public func createUser(_ user: UserID) async throws {
        try await execute("INSERT INTO users (user_id) VALUES (\(user.uuid)) ON CONFLICT DO NOTHING")
    }

    public func userExists(_ user: UserID) async throws -> Bool {
        try await exists(Prepared.UserExists(user: user.uuid))
    }

    public func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws {
        if isBlocked {
            try await execute("INSERT INTO blocks (blocker, blocked) VALUES (\(blocker.uuid), \(blocked.uuid)) ON CONFLICT DO NOTHING")
        } else {
            try await execute("DELETE FROM blocks WHERE blocker = \(blocker.uuid) AND blocked = \(blocked.uuid)")
        }
    }

    public func isBlocked(blocker: UserID, blocked: UserID) async throws -> Bool {
        try await exists(Prepared.BlockExists(blocker: blocker.uuid, blocked: blocked.uuid))
    }

    // MARK: Groups and members

    public func createGroup(_ group: GroupID) async throws {
        try await execute("INSERT INTO groups (group_id) VALUES (\(group.uuid)) ON CONFLICT DO NOTHING")
    }

    public func groupExists(_ group: GroupID) async throws -> Bool {
        try await exists(Prepared.GroupExists(group: group.uuid))
    }

    public func addMember(_ user: UserID, to group: GroupID) async throws {
        try await execute("INSERT INTO members (group_id, user_id) VALUES (\(group.uuid), \(user.uuid)) ON CONFLICT DO NOTHING")
    }

    public func removeMember(_ user: UserID, from group: GroupID) async throws {
        try await execute("DELETE FROM members WHERE group_id = \(group.uuid) AND user_id = \(user.uuid)")
    }

    public func members(of group: GroupID, after: UserID?, limit: Int) async throws -> [UserID] {
        precondition(limit > 0)
        return try await database {
            try await Self.members(of: group, after: after, limit: limit) { try await client.query($0, logger: logger) }
        }
    }

    /// Up to `limit` members after `after`, ascending (uuid order is byte order, that of ``UserID``).
    private static func members(
        of group: GroupID, after: UserID?, limit: Int, run: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [UserID] {
        let rows: PostgresRowSequence
        if let after {
            rows = try await run("""
                SELECT user_id FROM members WHERE group_id = \(group.uuid) AND user_id > \(after.uuid)
                ORDER BY user_id LIMIT \(limit)
                """)
        } else {
            rows = try await run("SELECT user_id FROM members WHERE group_id = \(group.uuid) ORDER BY user_id LIMIT \(limit)")
        }
        var members: [UserID] = []
        for try await id in rows.decode(UUID.self) { members.append(UserID(id)) }
        return members
    }

    public func isMember(_ user: UserID, of group: GroupID) async throws -> Bool {
        try await exists(Prepared.MemberExists(group: group.uuid, user: user.uuid))
    }

    // MARK: Direct messages

    public func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate {
        // The head upsert locks the inbox's head row until the commit, and the entry gets the date
        // it hands out. One round trip (BEGIN, this, COMMIT pipelined), as an unnamed statement: a
        // prepared one cannot be pipelined with its COMMIT through postgres-nio's API.
        let query: PostgresQuery = """
            WITH head AS (
                INSERT INTO inbox_heads AS h (recipient, last_date) VALUES (\(recipient.uuid), \(unescaped: Self.nowMicros))
                ON CONFLICT (recipient) DO UPDATE SET last_date = GREATEST(EXCLUDED.last_date, h.last_date + 1)
                RETURNING last_date)
            INSERT INTO inbox (recipient, date, message_id, sender, sent_at, group_id, content)
            SELECT \(recipient.uuid), last_date, \(message.messageID.uuid), \(message.sender.uuid), last_date, NULL,
                   \(message.content)
            FROM head RETURNING date
            """
        return try await write(query) { rows in
            guard let row = rows.first else { throw MessagingError(.unavailable, "The database wrote no inbox entry.") }
            return MessageDate(microsecondsSinceEpoch: try row.decode(Int64.self))
        }
    }

    // MARK: Group messages and fan-out

    public func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate {
        // One statement: the group's clock (its row, locked to the commit), the queue row with the
        // whole message, and a NOTIFY delivered at the commit to every server's listener.
        let query: PostgresQuery = """
            WITH g AS (
                UPDATE groups SET last_date = GREATEST(\(unescaped: Self.nowMicros), last_date + 1)
                WHERE group_id = \(group.uuid) RETURNING last_date),
            q AS (
                INSERT INTO fanout_queue (message_id, group_id, sender, sent_at, content)
                SELECT \(message.messageID.uuid), \(group.uuid), \(message.sender.uuid), last_date, \(message.content) FROM g
                RETURNING sent_at)
            SELECT q.sent_at FROM q, pg_notify('\(unescaped: Self.channel)', '') AS n
            """
        let sentAt = try await write(query) { rows -> Int64 in
            guard let row = rows.first else { throw MessagingError(.notFound, "Group \(group) does not exist.") }
            return try row.decode(Int64.self)
        }
        doorbell.ring()
        return MessageDate(microsecondsSinceEpoch: sentAt)
    }

    public func receiveGroupMessage(lease: Duration, wait: Duration) async throws -> GroupMessageLease? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        let seconds = Self.seconds(lease)
        while true {
            try Task.checkCancellation()
            let generation = doorbell.generation
            let token = UUID()
            let identity = options.serverIdentity
            let received = try await write("""
                    WITH next AS (
                        SELECT id FROM fanout_queue
                        WHERE dead_reason IS NULL AND (lease_until IS NULL OR lease_until <= clock_timestamp())
                        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    UPDATE fanout_queue q
                    SET lease_token = \(token), lease_until = clock_timestamp() + make_interval(secs => \(seconds)),
                        attempts = q.attempts + 1, leased_by = \(identity)
                    FROM next WHERE q.id = next.id
                    RETURNING q.id, q.message_id, q.group_id, q.sender, q.sent_at, q.attempts
                    """) { rows -> GroupMessageLease? in
                guard let row = rows.first else { return nil }
                let (id, messageID, groupID, sender, sentAt, attempts) = try row.decode((Int64, UUID, UUID, UUID, Int64, Int32).self)
                return GroupMessageLease(
                    message: QueuedGroupMessage(messageID: MessageID(messageID), groupID: GroupID(groupID),
                                                sender: UserID(sender), sentAt: MessageDate(microsecondsSinceEpoch: sentAt)),
                    deliveryAttempt: Int(attempts), receipt: LeaseReceipt(Receipt(queueID: id, token: token)))
            }
            if let received {
                if received.deliveryAttempt > 1 { state.redelivered.add(1, ordering: .relaxed) }
                return received
            }
            let now = clock.now
            if now >= deadline { return nil }
            // Nothing ready: sleep until a NOTIFY, the next lease deadline, or the wake interval.
            var until = min(deadline, now.advanced(by: options.wakeInterval))
            if let expiry = try await secondsToNextLeaseExpiry() {
                until = min(until, now.advanced(by: .milliseconds(max(10, Int((expiry * 1000).rounded(.up))))))
            }
            await doorbell.wait(from: generation, until: until)
        }
    }

    /// Seconds until the earliest lease runs out (negative if one has), nil when none is leased.
    private func secondsToNextLeaseExpiry() async throws -> Double? {
        try await database {
            let rows = try await client.query("""
                SELECT extract(epoch FROM min(lease_until) - clock_timestamp())::float8
                FROM fanout_queue WHERE dead_reason IS NULL AND lease_until IS NOT NULL
                """, logger: logger)
            for try await seconds in rows.decode(Double?.self) { return seconds }
            return nil
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func receipt(_ lease: GroupMessageLease) throws -> Receipt {
        guard let receipt = lease.receipt.value as? Receipt else {
            throw FanOutError(.permanent, "The lease of \(lease.message.messageID) is not one of this storage.")
        }
        return receipt
    }

    public func extendGroupMessageLease(_ lease: GroupMessageLease, by duration: Duration) async throws -> GroupMessageLease {
        let receipt = try receipt(lease)
        let held = try await executeReturningRow("""
            UPDATE fanout_queue SET lease_until = clock_timestamp() + make_interval(secs => \(Self.seconds(duration)))
            WHERE id = \(receipt.queueID) AND lease_token = \(receipt.token) RETURNING id
            """)
        // Like the engine's queue: a lease past its deadline is still held until another receive takes it.
        guard held else {
            throw FanOutError(.leaseLost, "Group message \(lease.message.messageID) was received again by another consumer or is no longer queued.")
        }
        return lease
    }

    public func deliverGroupMessageBatch(_ lease: GroupMessageLease, maxMembers: Int) async throws -> FanOutBatch {
        precondition(maxMembers > 0)
        let receipt = try receipt(lease)
        let logger = self.logger
        return try await transaction { connection -> FanOutBatch in
            // The queue row, locked: batches of one message are serialized across servers.
            let rows = try await connection.query("""
                SELECT lease_token, progress, cursor, message_id, group_id, sender, sent_at, content
                FROM fanout_queue WHERE id = \(receipt.queueID) FOR UPDATE
                """, logger: logger)
            var found: (UUID?, Int16, UUID?, UUID, UUID, UUID, Int64, String)?
            for try await row in rows.decode((UUID?, Int16, UUID?, UUID, UUID, UUID, Int64, String).self) { found = row }
            // Acknowledged (by this holder or a later one): fully delivered.
            guard let (token, progress, cursor, messageID, groupID, sender, sentAt, content) = found else {
                return FanOutBatch(recipients: [], isComplete: true)
            }
            guard token == receipt.token else {
                throw FanOutError(.leaseLost, "Group message \(lease.message.messageID) was received again by another consumer.")
            }
            if progress == 2 { return FanOutBatch(recipients: [], isComplete: true) }
            if progress == 1 && cursor == nil {
                throw FanOutError(.permanent, "The fan-out of \(messageID) is under way but has no cursor.")
            }
            // The next members after the cursor, read now (one more tells whether this is the last batch).
            var page = try await Self.members(of: GroupID(groupID), after: cursor.map(UserID.init), limit: maxMembers + 1) {
                try await connection.query($0, logger: logger)
            }
            let isLast = page.count <= maxMembers
            if !isLast { page.removeLast() }
            if progress == 0 {
                if page.isEmpty {
                    // No member: nothing to store.
                    try await connection.query("UPDATE fanout_queue SET progress = 2 WHERE id = \(receipt.queueID)", logger: logger)
                    return FanOutBatch(recipients: [], isComplete: true)
                }
                try await connection.query("""
                    INSERT INTO group_messages (message_id, group_id, sender, sent_at, content)
                    VALUES (\(messageID), \(groupID), \(sender), \(sentAt), \(content)) ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            if !page.isEmpty {
                // Heads locked in user id order (the order of the array and of every batch), so that two
                // batches never wait for each other in a cycle; each copy dated after sentAt too.
                let recipients = page.map(\.uuid)
                try await connection.query("""
                    WITH heads AS (
                        INSERT INTO inbox_heads AS h (recipient, last_date)
                        SELECT r, GREATEST(\(unescaped: Self.nowMicros), \(sentAt + 1))
                        FROM unnest(\(recipients)::uuid[]) AS u(r) ORDER BY r
                        ON CONFLICT (recipient) DO UPDATE SET last_date = GREATEST(EXCLUDED.last_date, h.last_date + 1)
                        RETURNING recipient, last_date)
                    INSERT INTO inbox (recipient, date, message_id, sender, sent_at, group_id, content)
                    SELECT recipient, last_date, \(messageID), \(sender), \(sentAt), \(groupID), NULL FROM heads
                    """, logger: logger)
            }
            let newProgress: Int16 = isLast ? 2 : 1
            try await connection.query("""
                UPDATE fanout_queue SET progress = \(newProgress), cursor = \(page.last?.uuid ?? cursor)
                WHERE id = \(receipt.queueID)
                """, logger: logger)
            return FanOutBatch(recipients: page, isComplete: isLast)
        }
    }

    public func acknowledgeGroupMessage(_ lease: GroupMessageLease) async throws {
        let receipt = try receipt(lease)
        // Another holder (the lease ran out) finds the message delivered and acknowledges it.
        try await execute("DELETE FROM fanout_queue WHERE id = \(receipt.queueID) AND lease_token = \(receipt.token)")
    }

    public func deadLetterGroupMessage(_ lease: GroupMessageLease, reason: String) async throws {
        let receipt = try receipt(lease)
        let parked = try await executeReturningRow("""
            UPDATE fanout_queue SET dead_reason = \(reason), dead_at = now(), lease_token = NULL, lease_until = NULL
            WHERE id = \(receipt.queueID) AND lease_token = \(receipt.token) RETURNING id
            """)
        if parked { state.deadLettered.add(1, ordering: .relaxed) }
    }

    public func redriveGroupMessages() async throws -> Int {
        let moved = try await write("""
                WITH moved AS (
                    UPDATE fanout_queue SET dead_reason = NULL, dead_at = NULL, attempts = 0, lease_token = NULL,
                        lease_until = NULL, leased_by = NULL
                    WHERE dead_reason IS NOT NULL RETURNING id)
                SELECT count(*) FROM moved, pg_notify('\(unescaped: Self.channel)', '') AS n
                """) { rows in Int(try rows.first?.decode(Int64.self) ?? 0) }
        if moved > 0 { doorbell.ring() }
        return moved
    }

    public func fanOutQueueStatistics() async throws -> FanOutQueueStatistics {
        try await database {
            let rows = try await client.query("""
                SELECT count(*) FILTER (WHERE dead_reason IS NULL),
                       count(*) FILTER (WHERE dead_reason IS NULL AND lease_until > clock_timestamp()),
                       count(*) FILTER (WHERE dead_reason IS NOT NULL),
                       COALESCE(\(unescaped: Self.nowMicros) - min(sent_at) FILTER (WHERE dead_reason IS NULL), 0)
                FROM fanout_queue
                """, logger: logger)
            for try await (depth, inFlight, dead, age) in rows.decode((Int64, Int64, Int64, Int64).self) {
                return FanOutQueueStatistics(
                    depth: Int(depth), inFlight: Int(inFlight), deadLetters: Int(dead),
                    deadLetteredTotal: state.deadLettered.load(ordering: .relaxed), oldestAgeMicros: max(0, age),
                    redeliveredTotal: state.redelivered.load(ordering: .relaxed))
            }
            throw MessagingError(.unavailable, "The database returned no queue statistics.")
        }
    }

    // MARK: Inboxes

    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int, maxContentBytes: Int) async throws -> [InboxMessage] {
        precondition(limit > 0)
        // Any cursor is valid: nothing is dated Int64.min.
        let after = after?.microsecondsSinceEpoch ?? .min
        return try await database {
            var messages: [InboxMessage] = []
            var groupCopies: [Int] = []
            var directBytes = 0
            // One index range of the inbox, in date order; the read stops (and the rest of the rows are
            // dropped) after the direct entry at which the content passes the budget.
            let rows = try await client.execute(
                Prepared.InboxPage(recipient: recipient.uuid, after: after, limit: Int64(limit)), logger: logger)
            for try await (date, messageID, sender, sentAt, groupID, content) in rows {
                if groupID != nil { groupCopies.append(messages.count) }
                messages.append(InboxMessage(
                    messageID: MessageID(messageID), sender: UserID(sender), recipient: recipient, content: content ?? "",
                    date: MessageDate(microsecondsSinceEpoch: date), sentAt: MessageDate(microsecondsSinceEpoch: sentAt),
                    groupID: groupID.map(GroupID.init)))
                if groupID == nil {
                    directBytes += content?.utf8.count ?? 0
                    if directBytes > maxContentBytes { break }
                }
            }
            guard !groupCopies.isEmpty else { return messages }
            // Group copies reference the body stored once (a second query, not a join: on Citus the
            // bodies are distributed by message id, the inbox by recipient).
            let ids = Array(Set(groupCopies.map { messages[$0].messageID.uuid }))
            var bodies: [UUID: String] = [:]
            let bodyRows = try await client.query(
                "SELECT message_id, content FROM group_messages WHERE message_id = ANY(\(ids)::uuid[])", logger: logger)
            for try await (id, content) in bodyRows.decode((UUID, String).self) { bodies[id] = content }
            for index in groupCopies {
                guard let body = bodies[messages[index].messageID.uuid] else {
                    throw MessagingError(.unavailable, "The body of group message \(messages[index].messageID) is missing.")
                }
                messages[index].content = body
            }
            var contentBytes = 0
            for index in messages.indices {
                contentBytes += messages[index].content.utf8.count
                if contentBytes > maxContentBytes {
                    messages.removeSubrange((index + 1)...)
                    break
                }
            }
            return messages
        }
    }

    // MARK: Notifications

    /// Keeps one connection LISTENing on the fan-out channel and rings the
    /// doorbell at every notification (and whenever it (re)connects, since a
    /// notification may have been missed meanwhile). Reconnects after a failure.
    private func startListening(signal: AsyncStream<Void>.Continuation) {
        let task = Task { [client, doorbell, state, logger = eventLogger] in
            var failures = 0
            while !Task.isCancelled && state.isOpen.load(ordering: .acquiring) {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { sequence in
                            failures = 0
                            signal.yield()
                            doorbell.ring()
                            for try await _ in sequence {
                                state.notifications.add(1, ordering: .relaxed)
                                doorbell.ring()
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled || !state.isOpen.load(ordering: .acquiring) { break }
                    failures += 1
                    if failures == 1 || failures % 60 == 0 {
                        logger.warning("LISTEN connection failed; fan-out receivers poll until it is back",
                                       metadata: ["error": "\(Self.describe(error))"])
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        listenTask.withLock { $0 = task }
    }

    // MARK: Monitoring and lifecycle

    /// The storage's own counters: transactions retried after a deadlock or a
    /// serialization failure, and fan-out notifications received.
    public func metricsSnapshot() async -> [StorageMetric] {
        [
            StorageMetric(name: "msgstore_postgres_transaction_retries_total",
                          help: "Transactions retried after a deadlock or serialization failure.", kind: .counter,
                          value: Double(state.transactionRetries.load(ordering: .relaxed))),
            StorageMetric(name: "msgstore_postgres_notifications_total",
                          help: "Fan-out queue notifications (LISTEN) received from any server.", kind: .counter,
                          value: Double(state.notifications.load(ordering: .relaxed))),
        ]
    }

    /// Nil when the database answers a trivial query; else why not.
    public func healthProblem() async -> String? {
        guard state.isOpen.load(ordering: .acquiring) else { return "The store is closed." }
        do {
            try await client.query("SELECT 1", logger: logger)
            return nil
        } catch {
            return "The database does not answer: \(Self.describe(error))"
        }
    }

    public func close() async throws {
        guard state.isOpen.exchange(false, ordering: .acquiringAndReleasing) else { return }
        doorbell.close()
        listenTask.withLock { $0 }?.cancel()
        runTask.cancel()
        await runTask.value
    }
}
