/// Index maintenance: turning a batch into its final ops by adding the
/// entries of the secondary indexes its rows imply. Used by the commit
/// leader, which hands it each batch of a group in commit order.
///
/// Holds no state: the catalog is fixed at open, old values are read through
/// the ``ReadPath``, and the group's own earlier writes come in an
/// ``IndexOverlay`` the leader keeps per group.
struct IndexMaintenance: Sendable {
    /// Tables and indexes by id (the catalog's).
    let tablesById: [UInt32: TableState]
    /// Where a row's previous value is read.
    let reads: ReadPath

    /// Appends the index ops `batch` implies: for each op on an indexed
    /// table, the deletion of the old index entry (the row's previous value:
    /// from `overlay` if an earlier batch of the group wrote it, else read)
    /// and the new entry. Records the op in `overlay`. REQUIRES: commit leader,
    /// in commit order, before the batch is logged.
    func expand(_ batch: inout WriteBatch, overlay: inout IndexOverlay) throws {
        let original = batch.bytes
        var additions: [(kind: InternalKey.Kind, tableId: UInt32, userKey: [UInt8], value: [UInt8]?)] = []
        var failure: (any Error)?
        _ = original.withUnsafeBytes { raw in
            BatchDecoder.forEachOp(raw) { op in
                guard failure == nil, let table = tablesById[op.tableId], !table.indexes.isEmpty else { return }
                guard let row = RowKeyCoding.decode(op.userKey) else {
                    failure = StoreError(.invalidArgument, "malformed row key in batch")
                    return
                }
                let userKey = Array(op.userKey)
                let newValue: [UInt8]? = op.kind == .value ? Array(op.value) : nil
                var oldValue: [UInt8]?
                if !op.isInsert {
                    if let pending = overlay.value(table: op.tableId, userKey: userKey) {
                        oldValue = pending
                    } else {
                        do { oldValue = try reads.get(table: table, userKey: userKey) } catch { failure = error; return }
                    }
                }
                overlay.record(table: op.tableId, userKey: userKey, value: newValue)
                for index in table.indexes {
                    let oldKey = oldValue.flatMap { index.schema.key(row, $0) }
                    let newKey = newValue.flatMap { index.schema.key(row, $0) }
                    let entryValue: [UInt8]? = newValue.map { index.schema.kind == .covering ? $0 : IndexReference.encode(row) }
                    if let oldKey, oldKey != newKey {
                        additions.append((.deletion, index.table.handle.id, RowKeyCoding.encode(oldKey), nil))
                    }
                    if let newKey, let entryValue {
                        if oldKey == newKey && index.schema.kind == .referencing { continue }
                        additions.append((.value, index.table.handle.id, RowKeyCoding.encode(newKey), entryValue))
                    }
                }
            }
        }
        if let failure { throw failure }
        for addition in additions {
            batch.appendRaw(kind: addition.kind, tableId: addition.tableId, userKey: addition.userKey, value: addition.value)
        }
    }
}

/// Values written by the earlier batches of a commit group, which index
/// maintenance must see though they are not in the memtables yet.
struct IndexOverlay {
    private var values: [[UInt8]: [UInt8]?] = [:]

    /// `.some(nil)` when the row was deleted in this group; `nil` when the group did not touch it.
    func value(table: UInt32, userKey: [UInt8]) -> [UInt8]?? {
        values[Self.key(table, userKey)]
    }

    mutating func record(table: UInt32, userKey: [UInt8], value: [UInt8]?) {
        values[Self.key(table, userKey)] = .some(value)
    }

    private static func key(_ table: UInt32, _ userKey: [UInt8]) -> [UInt8] {
        var key: [UInt8] = []
        key.appendFixed32(table)
        key.append(contentsOf: userKey)
        return key
    }
}

extension RowKeyCoding {
    /// The user key of a row.
    static func encode(_ key: RowKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.partitionKey.count + key.sortKey.count + 2)
        key.partitionKey.withUnsafeBytes { pk in
            key.sortKey.withUnsafeBytes { sk in append(partitionKey: pk, sortKey: sk, to: &bytes) }
        }
        return bytes
    }

    /// The row key of a user key, or nil if malformed.
    static func decode(_ userKey: UnsafeRawBufferPointer) -> RowKey? {
        var cursor = ByteCursor(userKey)
        guard let partition = cursor.readLengthPrefixed() else { return nil }
        return RowKey(partitionKey: Array(partition), sortKey: Array(userKey[cursor.offset...]))
    }
}
