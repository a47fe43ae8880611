#if DEBUG || MSGSTORE_FUZZ
@testable import MsgStore

/// The write-ahead log and write batches.
enum LogTargets {
    static let directory = "/db"
    static let logPath = "/db/000001.log"

    // MARK: wal

    /// A WAL segment (docs/wal-format.md): read as `verify` and recovery
    /// read the live segment (strict, with its synced-length checkpoints,
    /// every batch decoded), inspected with every op, and replayed into
    /// memtables as recovery does — strict, or point-in-time (the repair
    /// mode) when the strict read threw. Recovery cuts a torn tail, after
    /// which the segment must read back whole.
    ///
    /// No second strict read of a segment the strict reader refused: after a
    /// bad fragment it scans every later byte for a valid fragment, the
    /// costly part of a run.
    static func wal(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.logFile) { bytes in
            let fileSystem = MemoryFileSystem()
            fileSystem.put(logPath, bytes)
            var readable = false
            var previous: Int64 = -1
            do {
                let reader = LogReader(path: logPath, mode: .strict, syncedLength: { WriteAheadLog.checkpointedLength($0) })
                let summary = try reader.read(using: fileSystem) { offset, record in
                    Contract.expect(offset > previous && offset < Int64(bytes.count), "record offset \(offset) after \(previous)")
                    Contract.expect(record.count <= bytes.count, "record of \(record.count) bytes in a \(bytes.count)-byte file")
                    previous = offset
                    if WriteAheadLog.checkpointedLength(record) != nil { return }
                    guard BatchDecoder.header(record) != nil, BatchDecoder.forEachOp(record, { _ in }) else {
                        throw StoreError.corruption("malformed batch", file: logPath, offset: offset)
                    }
                }
                Contract.expect(summary.validLength <= Int64(bytes.count), "valid length \(summary.validLength)")
                if let torn = summary.tornTail {
                    Contract.expect(torn.offset >= 0 && torn.offset <= Int64(bytes.count), "torn tail at \(torn.offset)")
                }
                readable = true
            } catch {
                Contract.check(error, "LogReader")
            }
            do {
                _ = try LogInspection.inspect(path: logPath, fileSystem: fileSystem, includeEntries: true)
            } catch {
                Contract.check(error, "LogInspection")
            }
            replay(fileSystem: fileSystem, mode: readable ? .strict : .pointInTime)
        }
    }

    /// Replays segment 1 as `Engine` does on open, then reads it again: after
    /// recovery cut its tail, it must have none.
    static func replay(fileSystem: MemoryFileSystem, mode: LogReader.Mode) {
        let tables = Tables()
        let report: WriteAheadLog.RecoveryReport
        do {
            report = try WriteAheadLog.replay(directory: directory, numbers: [1], fileSystem: fileSystem, mode: mode) { record, file, offset in
                try applyAsRecovery(record, tables: tables, file: file, offset: offset)
            }
        } catch {
            Contract.check(error, "WAL replay (\(mode))")
            return
        }
        do {
            let summary = try LogReader(path: logPath, mode: .strict, syncedLength: { WriteAheadLog.checkpointedLength($0) })
                .read(using: fileSystem) { _, _ in }
            Contract.expect(summary.tornTail == nil, "recovery left a torn tail at \(summary.tornTail!.offset): \(summary.tornTail!.reason)")
            Contract.expect(summary.records == report.records, "recovery replayed \(report.records) records, \(summary.records) read back")
        } catch {
            fatalError("a segment recovery (\(mode)) accepted no longer reads: \(error)")
        }
    }

    /// What `Engine` does with each replayed record: checks the header's
    /// sequence range, then applies the ops to the memtables.
    static func applyAsRecovery(_ record: UnsafeRawBufferPointer, tables: Tables, file: String?, offset: Int64?) throws {
        guard let header = BatchDecoder.header(record) else {
            throw StoreError.corruption("log record too short for a batch header", file: file, offset: offset)
        }
        let (last, overflow) = header.baseSequence.addingReportingOverflow(UInt64(max(header.count, 1)) - 1)
        guard !overflow, header.baseSequence > 0, last < UInt64.max - 1 << 32 else {
            throw StoreError.corruption("batch sequence \(header.baseSequence) (+\(header.count)) is out of range", file: file, offset: offset)
        }
        tables.declare(record)
        try MemTableSet.apply(record, tables: tables.byId, skipping: nil, file: file, offset: offset)
    }

    /// Tables made up for the ids batches name (at most 8, one partition
    /// each: every memtable costs a 1 MiB arena chunk).
    final class Tables {
        private(set) var byId: [UInt32: TableState] = [:]

        func declare(_ record: UnsafeRawBufferPointer) {
            _ = BatchDecoder.forEachOp(record) { op in
                guard byId[op.tableId] == nil, byId.count < 8 else { return }
                let handle = Table(name: "t\(op.tableId)", id: op.tableId, partitionCount: 1, indexKind: nil, hasIndexes: false)
                byId[op.tableId] = TableState(handle: handle, firstLogNumber: 1, indexes: [])
            }
        }
    }

    // MARK: batch

    /// One op, copied out of its batch.
    struct Op: Equatable {
        var kind: InternalKey.Kind
        var flags: UInt8
        var tableId: UInt32
        var userKey: [UInt8]
        var value: [UInt8]
        /// Stamp offsets relative to the start of the user key and of the value.
        var stampKey: Int?
        var stampValue: Int?
    }

    /// Decodes every op of `raw`; nil if the batch is malformed. Checks that
    /// every view and stamp position lies inside the batch.
    static func decodeOps(_ raw: UnsafeRawBufferPointer) -> [Op]? {
        var ops: [Op] = []
        let ok = BatchDecoder.forEachOp(raw) { op in
            func offset(_ view: UnsafeRawBufferPointer) -> Int {
                guard let base = view.baseAddress, let start = raw.baseAddress else { return -1 }
                return base - start
            }
            let keyStart = offset(op.userKey), valueStart = offset(op.value)
            Contract.expect(op.userKey.count == 0 || (keyStart >= WriteBatch.headerSize && keyStart + op.userKey.count <= raw.count), "key view outside the batch")
            Contract.expect(op.value.count == 0 || (valueStart > keyStart && valueStart + op.value.count <= raw.count), "value view outside the batch")
            var decoded = Op(kind: op.kind, flags: op.flags, tableId: op.tableId, userKey: Array(op.userKey), value: Array(op.value))
            if let position = op.stampKeyPosition {
                Contract.expect(position >= 0 && position + 8 <= raw.count, "key stamp position \(position) outside the batch")
                if op.userKey.count > 0 {
                    decoded.stampKey = position - keyStart
                    Contract.expect(decoded.stampKey! >= 0 && decoded.stampKey! + 8 <= op.userKey.count, "key stamp outside the key")
                }
            }
            if let position = op.stampValuePosition {
                Contract.expect(position >= 0 && position + 8 <= raw.count, "value stamp position \(position) outside the batch")
                decoded.stampValue = position - valueStart
                Contract.expect(decoded.stampValue! >= 0 && decoded.stampValue! + 8 <= op.value.count, "value stamp outside the value")
            }
            ops.append(decoded)
        }
        return ok ? ops : nil
    }

    /// The canonical encoding of `ops` after `header` (minimal varints).
    static func encode(header: ArraySlice<UInt8>, _ ops: [Op]) -> [UInt8] {
        var bytes = Array(header)
        for op in ops {
            bytes.append(op.kind.rawValue)
            bytes.append(op.flags)
            bytes.appendFixed32(op.tableId)
            if op.flags & 2 != 0 { bytes.appendVarint(op.stampKey ?? 0) }
            if op.flags & 4 != 0 { bytes.appendVarint(op.stampValue ?? 0) }
            bytes.appendLengthPrefixed(op.userKey)
            if op.kind == .value { bytes.appendLengthPrefixed(op.value) }
        }
        return bytes
    }

    /// A write batch as logged (docs/wal-format.md): decoded op by op; a
    /// batch that decodes is re-encoded canonically and must decode to the
    /// same ops; the ops a caller could have written are rebuilt through the
    /// public `WriteBatch` API and must encode to the same ops; and the
    /// batch is applied to memtables as recovery does.
    static func batch(_ input: [UInt8]) {
        input.withUnsafeBytes { raw in
            let header = BatchDecoder.header(raw)
            Contract.expect((header == nil) == (raw.count < WriteBatch.headerSize), "header of a \(raw.count)-byte batch")
            guard let ops = decodeOps(raw), raw.count >= WriteBatch.headerSize else { return }

            let canonical = encode(header: input[..<WriteBatch.headerSize], ops)
            let again = canonical.withUnsafeBytes { decodeOps($0) }
            Contract.expect(again == ops, "canonical re-encoding decodes to other ops")
            Contract.expect(encode(header: canonical[..<WriteBatch.headerSize], again!) == canonical, "canonical encoding not stable")

            // Through the public API: ops whose user key is a row key, with stamps inside the sort key.
            var built = WriteBatch()
            var expected: [Op] = []
            for op in ops where op.flags & ~7 == 0 {
                let prefix = op.userKey.withUnsafeBytes { RowKeyCoding.prefixLength($0) }
                guard let prefix else { continue }
                let start = varintPrefix(op.userKey)
                let partitionKey = Array(op.userKey[start..<prefix])
                guard varintLength(UInt64(partitionKey.count)) == start else { continue }  // canonical length only
                let key = RowKey(partitionKey: partitionKey, sortKey: Array(op.userKey[prefix...]))
                if let stamp = op.stampKey, stamp < prefix { continue }
                let table = Table(name: "t", id: op.tableId, partitionCount: 1, indexKind: nil, hasIndexes: false)
                switch op.kind {
                case .value:
                    let stampSortKeyAt = op.stampKey.map { $0 - prefix }
                    if op.flags & 1 != 0 {
                        built.insert(table, key, value: op.value, stampSortKeyAt: stampSortKeyAt, stampValueAt: op.stampValue)
                    } else {
                        built.put(table, key, value: op.value, stampSortKeyAt: stampSortKeyAt, stampValueAt: op.stampValue)
                    }
                case .deletion:
                    guard op.flags == 0 else { continue }
                    built.delete(table, key)
                }
                expected.append(op)
            }
            let rebuilt = built.bytes.withUnsafeBytes { decodeOps($0) }
            Contract.expect(rebuilt == expected, "WriteBatch encodes other ops than it was given")
            Contract.expect(built.count == expected.count, "WriteBatch counts \(built.count) ops, holds \(expected.count)")

            do {
                try applyAsRecovery(raw, tables: Tables(), file: nil, offset: nil)
            } catch {
                Contract.check(error, "batch apply", needsFile: false)
            }
        }
    }

    /// The length of the varint that starts a user key (its partition key's length).
    private static func varintPrefix(_ userKey: [UInt8]) -> Int {
        var length = 0
        for byte in userKey {
            length += 1
            if byte < 0x80 { break }
        }
        return length
    }
}
#endif
