import Messaging
import Foundation
import Logging
import MsgStore
import Synchronization

/// ``MessagingStorage`` on the embedded msgstore engine (layout:
/// ``EngineMessagingLayout``).
///
/// - Dates: every inbox entry and every group body is written with a *commit
///   stamp* — the engine's monotonic microsecond commit clock, taken by the
///   commit leader in sequence order and written into the key (or value) — so
///   an inbox becomes visible in date order and dates never go back, across
///   restarts too.
/// - Fan-out: a group message's body is written once (`bodies`, stamped with
///   `sentAt`), then its id is enqueued in the store's durable `fanout` queue.
///   Each copy batch writes the members' inbox entries and the message's
///   progress marker (`fanout`) in one atomic batch; deliveries of one message
///   are serialized in-process (the store is single-process), so a member
///   already marked is never written twice.
public final class EngineMessagingStorage: MessagingStorage {
    let store: Store
    private let queue: DurableQueue
    private let users: Table, blocks: Table, groups: Table, members: Table
    private let inbox: Table, bodies: Table, fanOut: Table
    /// Queue leases by message id, to acknowledge the queue record.
    private let leases = Mutex<[MessageID: QueueMessage]>([:])
    private let gate = DeliveryGate()
    private let logger: Logger

    /// Opens (creating if needed) the messaging data in `options.dataDirectory`.
    public init(options: EngineStorageOptions, logger: Logger = Logger(label: "msgstore.storage")) throws {
        var storeOptions = StoreOptions()
        storeOptions.sync = options.sync == .always ? .always : .none
        if let bytes = options.walSegmentBytes { storeOptions.walSegmentBytes = bytes }
        if let bytes = options.memtableBudgetBytes {
            storeOptions.memtableBudgetBytes = bytes
            storeOptions.memtableBytes = min(storeOptions.memtableBytes, max(bytes / 8, 64 << 10))
        }
        store = try Store.open(at: options.dataDirectory, tables: EngineMessagingLayout.tables, options: storeOptions)
        do {
            users = try store.table("users")
            blocks = try store.table("blocks")
            groups = try store.table("groups")
            members = try store.table("members")
            inbox = try store.table("inbox")
            bodies = try store.table("bodies")
            fanOut = try store.table("fanout")
            var queueOptions = QueueOptions()
            queueOptions.sync = options.sync == .always ? .always : .none
            queue = try store.queue(named: EngineMessagingLayout.fanOutQueue, options: queueOptions)
        } catch {
            try? store.close()
            throw error
        }
        self.logger = logger
        for tail in store.recoveredTornTails {
            logger.warning("recovery cut a torn log tail", metadata: ["file": "\(tail.file)", "offset": "\(tail.offset)", "reason": "\(tail.reason)"])
        }
    }

    // MARK: Plumbing

    private typealias Layout = EngineMessagingLayout

    /// Runs an engine call, turning a closed store, a store that refuses
    /// writes (read-only after a failed log write, or a full disk) and other
    /// I/O failures into `.unavailable` with the reason.
    private func engine<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError where error.code == .closed {
            throw MessagingError(.unavailable, "The store is closed.")
        } catch let error as StoreError where error.code == .unavailable || error.code == .io {
            throw MessagingError(.unavailable, "The store cannot take this request now: \(error.message)")
        }
    }

    private func exists(_ table: Table, _ key: RowKey) async throws -> Bool {
        try await engine { try store.get(table, key) != nil }
    }

    private func write(_ batch: WriteBatch) async throws -> CommitReceipt {
        try await engine { try await store.write(batch) }
    }

    // MARK: Users and blocks

    public func createUser(_ user: UserID) async throws {
        var batch = WriteBatch()
        batch.put(users, RowKey(partitionKey: Layout.bytes(user.uuid)), value: [])
        _ = try await write(batch)
    }

    public func userExists(_ user: UserID) async throws -> Bool {
        try await exists(users, RowKey(partitionKey: Layout.bytes(user.uuid)))
    }

    public func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws {
        var batch = WriteBatch()
        let key = RowKey(partitionKey: Layout.bytes(blocker.uuid), sortKey: Layout.bytes(blocked.uuid))
        if isBlocked { batch.put(blocks, key, value: []) } else { batch.delete(blocks, key) }
        _ = try await write(batch)
    }

    public func isBlocked(blocker: UserID, blocked: UserID) async throws -> Bool {
        try await exists(blocks, RowKey(partitionKey: Layout.bytes(blocker.uuid), sortKey: Layout.bytes(blocked.uuid)))
    }

    // MARK: Groups and members

    public func createGroup(_ group: GroupID) async throws {
        var batch = WriteBatch()
        batch.put(groups, RowKey(partitionKey: Layout.bytes(group.uuid)), value: [])
        _ = try await write(batch)
    }

    public func groupExists(_ group: GroupID) async throws -> Bool {
        try await exists(groups, RowKey(partitionKey: Layout.bytes(group.uuid)))
    }

    public func addMember(_ user: UserID, to group: GroupID) async throws {
        let key = RowKey(partitionKey: Layout.bytes(group.uuid), sortKey: Layout.bytes(user.uuid))
        guard try await !exists(members, key) else { return }  // keep the original join order
        var batch = WriteBatch()
        batch.put(members, key, value: [UInt8](repeating: 0, count: 8), stampValueAt: 0)
        _ = try await write(batch)
    }

    public func removeMember(_ user: UserID, from group: GroupID) async throws {
        var batch = WriteBatch()
        batch.delete(members, RowKey(partitionKey: Layout.bytes(group.uuid), sortKey: Layout.bytes(user.uuid)))
        _ = try await write(batch)
    }

    public func members(of group: GroupID) async throws -> [UserID] {
        let rows = try await engine { try store.scan(members, partitionKey: Layout.bytes(group.uuid), limit: .max) }
        return rows
            .map { (Layout.int64(bigEndian: $0.value), $0.sortKey) }
            .sorted { $0.0 < $1.0 }
            .compactMap { Layout.uuid($0.1).map(UserID.init) }
    }

    public func isMember(_ user: UserID, of group: GroupID) async throws -> Bool {
        try await exists(members, RowKey(partitionKey: Layout.bytes(group.uuid), sortKey: Layout.bytes(user.uuid)))
    }

    // MARK: Direct messages

    public func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate {
        var value: [UInt8] = [Layout.directEntry]
        value += Layout.bytes(message.sender.uuid)
        value += Array(message.content.utf8)
        var batch = WriteBatch()
        batch.insert(inbox, RowKey(partitionKey: Layout.bytes(recipient.uuid),
                                   sortKey: [UInt8](repeating: 0, count: 8) + Layout.bytes(message.messageID.uuid)),
                     value: value, stampSortKeyAt: 0)
        let receipt = try await write(batch)
        return MessageDate(microsecondsSinceEpoch: receipt.timestamp)
    }

    // MARK: Group messages and fan-out

    public func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate {
        var body = Layout.bytes(message.sender.uuid)
        body += Layout.bytes(group.uuid)
        body += [UInt8](repeating: 0, count: 8)  // sentAt: the commit stamp
        body += Array(message.content.utf8)
        var batch = WriteBatch()
        batch.insert(bodies, RowKey(partitionKey: Layout.bytes(message.messageID.uuid)), value: body, stampValueAt: 32)
        let receipt = try await write(batch)
        // The body is durable; now the fan-out record. (A crash in between leaves
        // a body nobody was told about: the send was not acknowledged.)
        _ = try await engine { try await queue.enqueue(Layout.bytes(message.messageID.uuid) + Layout.bytes(group.uuid)) }
        return MessageDate(microsecondsSinceEpoch: receipt.timestamp)
    }

    public func receiveGroupMessages(limit: Int, lease: Duration) async throws -> [GroupMessageLease] {
        let received = try await engine { try await queue.receive(max: limit, visibilityTimeout: lease, waitTimeout: .zero) }
        var result: [GroupMessageLease] = []
        for record in received {
            guard record.payload.count == 32, let id = Layout.uuid(record.payload[0..<16]),
                  let group = Layout.uuid(record.payload[16..<32]) else {
                logger.error("malformed fan-out record; acknowledging it", metadata: ["sequence": "\(record.sequence)"])
                try await engine { try await queue.ack(record) }
                continue
            }
            let messageID = MessageID(id)
            guard let body = try await engine({ try store.get(bodies, RowKey(partitionKey: Layout.bytes(id))) }), body.count >= 40,
                  let sender = Layout.uuid(body[0..<16]) else {
                logger.error("fan-out record without its body; acknowledging it", metadata: ["message": "\(messageID)"])
                try await engine { try await queue.ack(record) }
                continue
            }
            leases.withLock { $0[messageID] = record }
            let queued = QueuedGroupMessage(messageID: messageID, groupID: GroupID(group), sender: UserID(sender),
                                            sentAt: MessageDate(microsecondsSinceEpoch: Layout.int64(bigEndian: body[32..<40])))
            result.append(GroupMessageLease(message: queued, deliveryAttempt: record.attempt))
        }
        return result
    }

    public func deliverGroupMessageCopies(_ message: QueuedGroupMessage, to recipients: [UserID]) async throws -> Int {
        let id = Layout.bytes(message.messageID.uuid)
        return try await gate.serialize(message.messageID) {
            let progressKey = RowKey(partitionKey: id)
            let progress = try await engine { try store.get(fanOut, progressKey) } ?? [Layout.fanOutInProgress]
            if progress.first == Layout.fanOutDone { return 0 }
            var done = Set<[UInt8]>()
            var offset = 1
            while offset + 16 <= progress.count {
                done.insert(Array(progress[offset..<(offset + 16)]))
                offset += 16
            }
            var batch = WriteBatch()
            var marker = progress
            var written = 0
            for member in recipients {
                let memberBytes = Layout.bytes(member.uuid)
                guard done.insert(memberBytes).inserted else { continue }
                batch.insert(inbox, RowKey(partitionKey: memberBytes, sortKey: [UInt8](repeating: 0, count: 8) + id),
                             value: [Layout.groupEntry], stampSortKeyAt: 0)
                marker += memberBytes
                written += 1
            }
            guard written > 0 else { return 0 }
            batch.put(fanOut, progressKey, value: marker)
            _ = try await write(batch)
            return written
        }
    }

    public func acknowledgeGroupMessage(_ message: QueuedGroupMessage) async throws {
        try await gate.serialize(message.messageID) {
            var batch = WriteBatch()
            batch.put(fanOut, RowKey(partitionKey: Layout.bytes(message.messageID.uuid)), value: [Layout.fanOutDone])
            _ = try await write(batch)
            if let record = leases.withLock({ $0.removeValue(forKey: message.messageID) }) {
                do {
                    try await engine { try await queue.ack(record) }
                } catch let error as StoreError where error.code == .leaseNotHeld {
                    // The lease ran out and another consumer holds the message now;
                    // it sees the done marker written above and acknowledges it.
                }
            }
        }
    }

    // MARK: Inboxes

    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int) async throws -> [InboxMessage] {
        precondition(limit > 0)
        let start: ScanStart = after.map { .at(Layout.bigEndian($0.microsecondsSinceEpoch + 1)) } ?? .beginning
        let rows = try await engine { try store.scan(inbox, partitionKey: Layout.bytes(recipient.uuid), from: start, limit: limit) }
        var messages: [InboxMessage] = []
        messages.reserveCapacity(rows.count)
        for row in rows {
            guard row.sortKey.count == 24, let id = Layout.uuid(row.sortKey[8..<24]), let kind = row.value.first else {
                throw MessagingError(.unavailable, "A stored inbox entry of \(recipient) is malformed.")
            }
            let date = MessageDate(microsecondsSinceEpoch: Layout.int64(bigEndian: row.sortKey[0..<8]))
            if kind == Layout.directEntry, row.value.count >= 17, let sender = Layout.uuid(row.value[1..<17]) {
                messages.append(InboxMessage(
                    messageID: MessageID(id), sender: UserID(sender), recipient: recipient,
                    content: String(decoding: row.value[17...], as: UTF8.self), date: date, sentAt: date, groupID: nil))
            } else if kind == Layout.groupEntry,
                      let body = try await engine({ try store.get(bodies, RowKey(partitionKey: Layout.bytes(id))) }),
                      body.count >= 40, let sender = Layout.uuid(body[0..<16]), let group = Layout.uuid(body[16..<32]) {
                messages.append(InboxMessage(
                    messageID: MessageID(id), sender: UserID(sender), recipient: recipient,
                    content: String(decoding: body[40...], as: UTF8.self), date: date,
                    sentAt: MessageDate(microsecondsSinceEpoch: Layout.int64(bigEndian: body[32..<40])), groupID: GroupID(group)))
            } else {
                throw MessagingError(.unavailable, "A stored inbox entry of \(recipient) is malformed.")
            }
        }
        return messages
    }

    // MARK: Lifecycle

    public func healthProblem() async -> String? {
        if let refusal = store.writeRefusal { return "The store refuses writes: \(refusal.message)" }
        if let failure = store.backgroundFailure { return "Background work keeps failing (writes may be refused): \(failure.message)" }
        if let refusal = queue.writeRefusal { return "The fan-out queue refuses writes: \(refusal.message)" }
        if let failure = queue.backgroundFailure { return "The fan-out queue keeps failing to start a new file: \(failure.message)" }
        return nil
    }

    public func close() async throws {
        do {
            try await store.close()
        } catch let error as StoreError where error.code == .closed {
            return
        }
    }
}

/// Serializes work per message id across tasks (a check-then-write on one
/// message's progress marker must not interleave with another).
actor DeliveryGate {
    private var busy: Set<MessageID> = []
    private var waiters: [MessageID: [CheckedContinuation<Void, Never>]] = [:]

    func serialize<T: Sendable>(_ id: MessageID, _ body: @Sendable () async throws -> T) async throws -> T {
        while busy.contains(id) {
            await withCheckedContinuation { waiters[id, default: []].append($0) }
        }
        busy.insert(id)
        defer {
            busy.remove(id)
            if var queue = waiters[id], !queue.isEmpty {
                let next = queue.removeFirst()
                waiters[id] = queue.isEmpty ? nil : queue
                next.resume()
            }
        }
        return try await body()
    }
}
