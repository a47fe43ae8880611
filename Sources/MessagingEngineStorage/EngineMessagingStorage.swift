import Messaging
import Foundation
import Logging
import MsgStore
import NIOPosix
import Synchronization

/// ``MessagingStorage`` on the embedded msgstore engine (layout:
/// ``EngineMessagingLayout``).
///
/// - Dates: every inbox entry and every group body is written with a *commit
///   stamp* — the engine's monotonic microsecond commit clock, taken by the
///   commit leader in sequence order and written into the key (or value) — so
///   an inbox becomes visible in date order and dates never go back, across
///   restarts too.
/// - Fan-out (docs/fanout.md): accepting a group message is **one** durable
///   write, the enqueue of a record carrying the whole message (sender, group,
///   `sentAt`, content) in the store's durable `fanout` queue — one
///   `fdatasync`. `sentAt` is a value of the store's commit clock taken
///   without a write (`Store.reserveCommitStamp()`). The first batch of copies writes the
///   body into `bodies` once; each batch writes its members' inbox entries and
///   the message's cursor (`fanout`: the last member id served, 16 bytes) in
///   one atomic batch; the last batch deletes the cursor. Deliveries of one
///   message are serialized in-process (the store is single-process), so a
///   member at or before the cursor is never written twice.
public final class EngineMessagingStorage: MessagingStorage {
    let store: Store
    private let queue: DurableQueue
    private let users: Table, blocks: Table, groups: Table, members: Table
    private let inbox: Table, bodies: Table, fanOut: Table
    private let gate = DeliveryGate()
    private let logger: Logger
    /// Threads for reads that would block on a file (see `read(_:)`).
    private let readPool: NIOThreadPool
    private let readsOnPool = Atomic<Int>(0)

    /// Reads that missed every cache and ran on the read pool, since open.
    public var readsOffloaded: Int { readsOnPool.load(ordering: .relaxed) }

    /// Logs an engine event with its figures: flushes and compactions at
    /// info, recovery and slow syncs at notice.
    static func log(_ event: StoreEvent, to logger: Logger) {
        switch event {
        case .flushed(let info):
            logger.info("flush: \(info.table)#\(info.partition), \(info.bytesWritten) bytes in \(info.files) files, \(info.microseconds / 1000) ms",
                        metadata: ["event": "flush", "table": .string(info.table), "partition": .stringConvertible(info.partition),
                                   "memtable_bytes": .stringConvertible(info.memtableBytes), "bytes_written": .stringConvertible(info.bytesWritten),
                                   "files": .stringConvertible(info.files), "duration_us": .stringConvertible(info.microseconds)])
        case .compacted(let info):
            logger.info("""
                compaction: \(info.table)#\(info.partition) L\(info.level)→L\(info.level + 1), \(info.inputFiles) files \
                \(info.bytesRead) bytes → \(info.outputFiles) files \(info.bytesWritten) bytes, \(info.microseconds / 1000) ms
                """,
                        metadata: ["event": "compaction", "table": .string(info.table), "partition": .stringConvertible(info.partition),
                                   "level": .stringConvertible(info.level), "input_files": .stringConvertible(info.inputFiles),
                                   "bytes_read": .stringConvertible(info.bytesRead), "output_files": .stringConvertible(info.outputFiles),
                                   "bytes_written": .stringConvertible(info.bytesWritten), "duration_us": .stringConvertible(info.microseconds)])
        case .recovered(let info):
            logger.notice("""
                recovery: replayed \(info.logRecords) log records from \(info.logSegments) segments, \
                \(info.tornTails) torn tails cut, opened in \(info.microseconds / 1000) ms
                """,
                          metadata: ["event": "recovery", "log_segments": .stringConvertible(info.logSegments),
                                     "log_records": .stringConvertible(info.logRecords), "torn_tails": .stringConvertible(info.tornTails),
                                     "duration_us": .stringConvertible(info.microseconds)])
        case .slowSync(let info):
            logger.notice("slow fsync: \(info.file), \(info.bytes) bytes in \(info.microseconds / 1000) ms",
                          metadata: ["event": "slow_sync", "file": .string(info.file), "bytes": .stringConvertible(info.bytes),
                                     "duration_us": .stringConvertible(info.microseconds)])
        }
    }

    /// Opens (creating if needed) the messaging data in `options.dataDirectory`.
    public init(options: EngineStorageOptions, logger: Logger = Logger(label: "msgstore.storage")) throws {
        var storeOptions = StoreOptions()
        storeOptions.sync = options.sync == .always ? .always : .none
        if let bytes = options.walSegmentBytes { storeOptions.walSegmentBytes = bytes }
        if let files = options.maxOpenTableFiles { storeOptions.maxOpenTableFiles = files }
        if let bytes = options.memtableBudgetBytes {
            storeOptions.memtableBudgetBytes = bytes
            storeOptions.memtableBytes = min(storeOptions.memtableBytes, max(bytes / 8, 64 << 10))
        }
        storeOptions.eventListener = { [logger] event in Self.log(event, to: logger) }
        store = try Store.open(at: options.dataDirectory, tables: EngineMessagingLayout.tables, options: storeOptions,
                               fileSystem: options.fileSystem)
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
            // Never dead-letter for a count of deliveries: restarts and expired leases are not failures.
            // Only a permanent failure parks a message (``DurableQueue/deadLetter(_:reason:)``).
            queueOptions.maxAttempts = .max
            // An enqueue's fdatasync then flushes data only (no new file size): the accept costs what a direct send costs.
            queueOptions.preallocateSegments = true
            // No larger than a log segment (a small disk configured for small log segments stays small).
            queueOptions.maxSegmentBytes = max(64 << 10, min(queueOptions.maxSegmentBytes, storeOptions.walSegmentBytes))
            queueOptions.maxPayloadBytes = max(queueOptions.maxPayloadBytes, storeOptions.maxValueBytes)
            queue = try store.queue(named: EngineMessagingLayout.fanOutQueue, options: queueOptions)
        } catch {
            try? store.close()
            throw error
        }
        self.logger = logger
        readPool = NIOThreadPool(numberOfThreads: options.readThreads)
        readPool.start()
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
        try await read { [store] in try store.get(table, key) != nil }
    }

    /// Runs a read on the caller's thread from memory only (memtables, row cache, block
    /// cache); if it would have to read a file, runs it again on the read pool, so that
    /// a slow disk never blocks the cooperative threads every request shares.
    private func read<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await engine {
            do {
                return try Store.withMemoryOnlyReads(body)
            } catch let error as StoreError where error.code == .wouldBlock {
                readsOnPool.add(1, ordering: .relaxed)
                return try await readPool.runIfActive(body)
            }
        }
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
        guard try await !exists(members, key) else { return }  // keep the original join stamp
        var batch = WriteBatch()
        batch.put(members, key, value: [UInt8](repeating: 0, count: 8), stampValueAt: 0)
        _ = try await write(batch)
    }

    public func removeMember(_ user: UserID, from group: GroupID) async throws {
        var batch = WriteBatch()
        batch.delete(members, RowKey(partitionKey: Layout.bytes(group.uuid), sortKey: Layout.bytes(user.uuid)))
        _ = try await write(batch)
    }

    public func members(of group: GroupID, after: UserID?, limit: Int) async throws -> [UserID] {
        precondition(limit > 0)
        // The members table's order is the user ids' bytes: one seek and a scan per page.
        let start: ScanStart = after.map { .after(Layout.bytes($0.uuid)) } ?? .beginning
        let members = self.members
        let rows = try await read { [store] in try store.scan(members, partitionKey: Layout.bytes(group.uuid), from: start, limit: limit) }
        return try rows.map { row in
            guard let id = Layout.uuid(row.sortKey) else {
                throw MessagingError(.unavailable, "A stored member of group \(group) is malformed.")
            }
            return UserID(id)
        }
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
        // The date: a value of the store's commit clock (unique, after every commit so far,
        // before every later one), taken without a write.
        let sentAt = try await engine { try store.reserveCommitStamp() }
        let record = FanOutRecord(messageID: message.messageID, groupID: group, sender: message.sender,
                                  sentAt: sentAt, content: Array(message.content.utf8))
        // The one durable step (one fdatasync, group-committed): the whole message, queued.
        _ = try await engine { try await queue.enqueue(record.encoded()) }
        return MessageDate(microsecondsSinceEpoch: sentAt)
    }

    public func receiveGroupMessage(lease: Duration, wait: Duration) async throws -> GroupMessageLease? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        while true {
            let remaining = max(.zero, deadline - clock.now)
            let received = try await engine {
                try await queue.receive(max: 1, visibilityTimeout: lease, waitTimeout: remaining)
            }
            guard let leased = received.first else { return nil }
            guard let record = FanOutRecord(decoding: leased.payload) else {
                let reason = "malformed fan-out record (\(leased.payload.count) bytes)"
                logger.error("fan-out record cannot be decoded; moving it to the dead-letter queue (msgstore queue list DIR --queue fanout)",
                             metadata: ["sequence": "\(leased.sequence)", "reason": "\(reason)"])
                try await engine { try await queue.deadLetter(leased, reason: reason) }
                continue
            }
            return GroupMessageLease(message: record.message, deliveryAttempt: leased.attempt, receipt: LeaseReceipt(leased))
        }
    }

    /// The queue record behind a lease of this storage.
    private func queueRecord(_ lease: GroupMessageLease) throws -> QueueMessage {
        guard let record = lease.receipt.value as? QueueMessage else {
            throw FanOutError(.permanent, "The lease of \(lease.message.messageID) is not one of this storage.")
        }
        return record
    }

    public func extendGroupMessageLease(_ lease: GroupMessageLease, by duration: Duration) async throws -> GroupMessageLease {
        let record = try queueRecord(lease)
        do {
            var renewed = lease
            renewed.receipt = LeaseReceipt(try await engine { try queue.extendLease(record, by: duration) })
            return renewed
        } catch let error as StoreError where error.code == .leaseNotHeld {
            throw FanOutError(.leaseLost, "Group message \(lease.message.messageID): \(error.message)")
        }
    }

    public func deliverGroupMessageBatch(_ lease: GroupMessageLease, maxMembers: Int) async throws -> FanOutBatch {
        precondition(maxMembers > 0)
        guard let record = FanOutRecord(decoding: try queueRecord(lease).payload) else {
            throw FanOutError(.permanent, "The fan-out record of \(lease.message.messageID) is malformed.")
        }
        let id = Layout.bytes(record.messageID.uuid)
        return try await gate.serialize(record.messageID) {
            let cursorKey = RowKey(partitionKey: id)
            let bodyKey = RowKey(partitionKey: id)
            let fanOut = self.fanOut, bodies = self.bodies, members = self.members
            let cursor = try await read { [store] in try store.get(fanOut, cursorKey) }
            if let cursor, cursor.count != 16 {
                throw FanOutError(.permanent, "The fan-out cursor of \(record.messageID) is \(cursor.count) bytes, not 16.")
            }
            let isFirst = cursor == nil
            if isFirst, try await read({ [store] in try store.contains(bodies, bodyKey) }) {
                // The body is written by the first batch and the cursor deleted by the last: done before.
                return FanOutBatch(recipients: [], isComplete: true)
            }
            // The next members after the cursor, in the members table's order (user id bytes), read now.
            let (page, isLast) = try await read { [store] in
                var page: [[UInt8]] = []
                var isLast = true
                try store.withUnsafeRows(members, partitionKey: Layout.bytes(record.groupID.uuid),
                                         from: cursor.map { .after($0) } ?? .beginning, limit: maxMembers + 1) { user, _ in
                    guard page.count < maxMembers else {
                        isLast = false
                        return false
                    }
                    page.append(Array(user))
                    return true
                }
                return (page, isLast)
            }
            if isFirst && page.isEmpty { return FanOutBatch(recipients: [], isComplete: true) }  // no members: nothing stored
            try await waitForClock(after: record.sentAt)
            var batch = WriteBatch()
            if isFirst {
                batch.insert(bodies, bodyKey, value: record.bodyValue())
            }
            // Every copy's sort key and value are the same bytes (the date is stamped at commit):
            // built once, shared by every entry of the batch.
            let copySortKey = [UInt8](repeating: 0, count: 8) + id
            let copyValue = Layout.groupEntryValue
            for member in page {
                guard member.count == 16 else {
                    throw FanOutError(.permanent, "A member key of group \(record.groupID) is \(member.count) bytes, not 16.")
                }
                batch.insert(inbox, RowKey(partitionKey: member, sortKey: copySortKey), value: copyValue, stampSortKeyAt: 0)
            }
            if !isLast {
                batch.put(fanOut, cursorKey, value: page[page.count - 1])
            } else if !isFirst {
                batch.delete(fanOut, cursorKey)
            }
            _ = try await write(batch)
            // Checked 16 bytes each above.
            return FanOutBatch(recipients: page.compactMap { Layout.uuid($0).map { UserID($0) } }, isComplete: isLast)
        }
    }

    /// Waits (normally not at all) until the wall clock is past `sentAt`, so
    /// that the commit stamps of the copies — at least the wall clock — are
    /// after it even after a crash (the reserved stamp is recorded nowhere but
    /// in the queue record, so the engine's clock may restart below it) with
    /// the system clock set back.
    private func waitForClock(after sentAt: Int64) async throws {
        while true {
            let now = MessageDate.now().microsecondsSinceEpoch
            if now > sentAt { return }
            try await Task.sleep(for: .microseconds(sentAt - now + 1))
        }
    }

    public func acknowledgeGroupMessage(_ lease: GroupMessageLease) async throws {
        let record = try queueRecord(lease)
        do {
            // Not synced: an ack lost with the page cache only makes the message come back,
            // and its redelivery finds it delivered (body stored, no cursor) and acks it again.
            try await engine { try await queue.ack(record, sync: false) }
        } catch let error as StoreError where error.code == .leaseNotHeld {
            // The lease ran out and another consumer holds the message now; it finds
            // the message delivered (body stored, no cursor) and acknowledges it.
        }
    }

    public func deadLetterGroupMessage(_ lease: GroupMessageLease, reason: String) async throws {
        let record = try queueRecord(lease)
        do {
            try await engine { try await queue.deadLetter(record, reason: reason) }
        } catch let error as StoreError where error.code == .leaseNotHeld {
            // Another consumer holds it now and meets the same failure.
        }
    }

    public func redriveGroupMessages() async throws -> Int {
        try await engine { try await queue.redrive() }
    }

    public func fanOutQueueStatistics() async throws -> FanOutQueueStatistics {
        let stats = queue.stats
        return FanOutQueueStatistics(depth: stats.depth, inFlight: stats.inFlight, deadLetters: stats.deadLetters,
                                     deadLetteredTotal: stats.deadLetteredTotal, oldestAgeMicros: stats.oldestUnackedAgeMicros,
                                     redeliveredTotal: stats.redeliveredTotal)
    }

    private static let memtableHelp = "Bytes in memtables: active (taking writes) and immutable (waiting for their flush)."

    /// The engine's figures for monitoring: commits, syncs, flushes,
    /// compactions, bytes and files per level, write amplification, stalls,
    /// memtables, caches, open files, reads moved to the read pool.
    public func metricsSnapshot() async -> [StorageMetric] {
        let stats = store.statistics
        func counter(_ name: String, _ help: String, _ value: UInt64) -> StorageMetric {
            StorageMetric(name: "msgstore_engine_" + name, help: help, kind: .counter, value: Double(value))
        }
        func gauge(_ name: String, _ help: String, _ value: Double, labels: [String: String] = [:]) -> StorageMetric {
            StorageMetric(name: "msgstore_engine_" + name, help: help, kind: .gauge, labels: labels, value: value)
        }
        var metrics = [
            counter("write_batches_total", "Write batches committed.", stats.batches),
            counter("commit_groups_total", "Commit groups (one log write each; batches per group = batches / groups).", stats.commitGroups),
            counter("log_syncs_total", "fdatasync calls on the write-ahead log.", stats.logSyncs),
            counter("log_bytes_written_total", "Bytes written to the write-ahead log.", stats.logBytesWritten),
            counter("flushes_total", "Memtables written to L0 tables.", stats.flushes),
            counter("flush_bytes_written_total", "Bytes of tables written by flushes.", stats.flushBytesWritten),
            counter("compactions_total", "Compactions run.", stats.compactions),
            counter("compaction_bytes_read_total", "Bytes read by compactions.", stats.compactionBytesRead),
            counter("compaction_bytes_written_total", "Bytes written by compactions.", stats.compactionBytesWritten),
            counter("stall_microseconds_total", "Time writers waited on a write stall (L0 full, memtables over budget).", stats.stallMicroseconds),
            counter("slowdowns_total", "Writes delayed by the L0 slowdown trigger.", stats.slowdowns),
            counter("block_cache_hits_total", "Block cache hits.", stats.blockCacheHits),
            counter("block_cache_misses_total", "Block cache misses (a pread, checksum and decompression each).", stats.blockCacheMisses),
            counter("row_cache_hits_total", "Row cache hits.", stats.rowCacheHits),
            counter("row_cache_misses_total", "Row cache misses.", stats.rowCacheMisses),
            counter("table_file_reopens_total", "Table files opened again after the file cache closed them.", stats.tableFileReopens),
            counter("reads_offloaded_total", "Reads that missed every cache and ran on the read thread pool.", UInt64(readsOffloaded)),
            gauge("write_amplification", "Bytes written to disk (log, flushes, compactions) per byte of log.", stats.writeAmplification),
            gauge("memtable_bytes", Self.memtableHelp, Double(stats.activeMemtableBytes), labels: ["state": "active"]),
            gauge("memtable_bytes", Self.memtableHelp, Double(stats.immutableMemtableBytes), labels: ["state": "immutable"]),
            gauge("block_cache_bytes", "Bytes held by the block cache.", Double(stats.blockCacheBytes)),
            gauge("row_cache_bytes", "Bytes held by the row cache.", Double(stats.rowCacheBytes)),
            gauge("table_metadata_bytes", "Bytes of index and filter blocks held in memory.", Double(stats.tableMetadataBytes)),
            gauge("open_table_files", "Table files open in the file cache.", Double(stats.openTableFiles)),
            gauge("live_log_segments", "Write-ahead log segments still needed.", Double(stats.liveLogSegments)),
            gauge("sst_bytes", "Bytes of all tables.", Double(stats.sstBytes)),
            gauge("last_sequence", "The last committed sequence number.", Double(stats.lastSequence)),
        ]
        for (level, bytes) in stats.levelBytes.enumerated() {
            metrics.append(gauge("level_bytes", "Bytes of tables per LSM level.", Double(bytes), labels: ["level": "\(level)"]))
        }
        for (level, files) in stats.levelFileCounts.enumerated() {
            metrics.append(gauge("level_files", "Tables per LSM level.", Double(files), labels: ["level": "\(level)"]))
        }
        let queueStats = queue.stats
        metrics.append(StorageMetric(name: "msgstore_fanout_queue_syncs_total", help: "fdatasync calls on the fan-out queue's files.",
                                     kind: .counter, value: Double(queueStats.syncs)))
        metrics.append(StorageMetric(name: "msgstore_fanout_queue_segments", help: "Segment files of the fan-out queue.",
                                     kind: .gauge, value: Double(queueStats.segments)))
        return metrics
    }

    /// The fan-out queue's own counters (syncs included), for tests and benchmarks.
    public var fanOutQueueStats: QueueStats { queue.stats }

    /// The store's counters (log syncs and bytes), for tests and benchmarks.
    public var storeStatistics: StoreStatistics { store.statistics }

    /// The options the store was opened with (cache and memtable budgets).
    public var storeOptions: StoreOptions { store.options }

    /// Enqueues raw bytes as a fan-out record, bypassing validation: tests use
    /// it to poison the queue.
    func enqueueRawFanOutRecord(_ payload: [UInt8]) async throws {
        _ = try await queue.enqueue(payload)
    }

    // MARK: Inboxes

    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int, maxContentBytes: Int) async throws -> [InboxMessage] {
        precondition(limit > 0)
        // Keys hold dates as unsigned big-endian microseconds. A cursor before 1970 is before
        // every date (all are ≥ 0), and nothing is after the largest one.
        let start: ScanStart
        switch after?.microsecondsSinceEpoch {
        case nil: start = .beginning
        case let micros? where micros < 0: start = .beginning
        case .max?: return []
        case let micros?: start = .at(Layout.bigEndian(micros + 1))
        }
        let inbox = self.inbox
        let scan = try await read { [store] in
            try Self.scanInbox(store: store, inbox: inbox, recipient: recipient, start: start, limit: limit,
                               maxContentBytes: maxContentBytes)
        }
        var messages = scan.messages
        let groupCopies = scan.groupCopies
        let malformed = scan.malformed
        if malformed { throw MessagingError(.unavailable, "A stored inbox entry of \(recipient) is malformed.") }
        // A group copy references the body stored once by the fan-out's first batch. Bodies
        // are looked up in inbox order until the content total passes `maxContentBytes`.
        var contentBytes = 0
        var nextCopy = 0
        for index in messages.indices {
            if nextCopy < groupCopies.count, groupCopies[nextCopy].index == index {
                let id = groupCopies[nextCopy].id
                nextCopy += 1
                let bodies = self.bodies
                let body = try await read { [store] in try store.get(bodies, RowKey(partitionKey: Layout.bytes(id))) }
                guard let body, body.count >= 40 else {
                    throw MessagingError(.unavailable, "A stored inbox entry of \(recipient) is malformed.")
                }
                body.withUnsafeBytes { raw in
                    messages[index].sender = UserID(Layout.uuid(raw, at: 0))
                    messages[index].groupID = GroupID(Layout.uuid(raw, at: 16))
                    messages[index].sentAt = MessageDate(microsecondsSinceEpoch: Layout.int64(bigEndian: raw, at: 32))
                    messages[index].content = String(decoding: UnsafeRawBufferPointer(rebasing: raw[40...]), as: UTF8.self)
                }
            }
            contentBytes += messages[index].content.utf8.count
            if contentBytes > maxContentBytes {
                messages.removeSubrange((index + 1)...)
                break
            }
        }
        return messages
    }

    /// One inbox page's entries as the scan finds them.
    private struct InboxScan: Sendable {
        var messages: [InboxMessage] = []
        /// Group copies: their index in `messages` and their message id; completed from their bodies.
        var groupCopies: [(index: Int, id: UUID)] = []
        var malformed = false
    }

    /// One pass over the page in place: a direct entry becomes a message at once; a group
    /// copy keeps its place and its date, its body is looked up after the scan. The scan
    /// stops after the direct entry at which their content passes `maxContentBytes` (group
    /// copies are counted with their bodies). Starts from nothing each call: a read retried
    /// on the read pool runs it again.
    private static func scanInbox(
        store: Store, inbox: Table, recipient: UserID, start: ScanStart, limit: Int, maxContentBytes: Int
    ) throws -> InboxScan {
        var scan = InboxScan()
        scan.messages.reserveCapacity(min(limit, 64))
        var directBytes = 0
        try store.withUnsafeRows(inbox, partitionKey: Layout.bytes(recipient.uuid), from: start, limit: limit) { sortKey, value in
            guard sortKey.count == 24, let kind = value.first else {
                scan.malformed = true
                return false
            }
            let id = Layout.uuid(sortKey, at: 8)
            let date = MessageDate(microsecondsSinceEpoch: Layout.int64(bigEndian: sortKey, at: 0))
            if kind == Layout.directEntry, value.count >= 17 {
                scan.messages.append(InboxMessage(
                    messageID: MessageID(id), sender: UserID(Layout.uuid(value, at: 1)), recipient: recipient,
                    content: String(decoding: UnsafeRawBufferPointer(rebasing: value[17...]), as: UTF8.self),
                    date: date, sentAt: date, groupID: nil))
                directBytes += value.count - 17
                if directBytes > maxContentBytes { return false }
            } else if kind == Layout.groupEntry {
                scan.groupCopies.append((scan.messages.count, id))
                // A placeholder, completed from the body.
                scan.messages.append(InboxMessage(messageID: MessageID(id), sender: recipient, recipient: recipient,
                                                  content: "", date: date, sentAt: date, groupID: nil))
            } else {
                scan.malformed = true
                return false
            }
            return true
        }
        return scan
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
        defer { readPool.shutdownGracefully { _ in } }
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
