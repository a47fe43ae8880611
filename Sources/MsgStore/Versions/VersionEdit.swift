// A version edit: one record of the manifest log (docs/manifest-format.md).
//
//     edit  := field*
//     field := tag:varint payload
//       1 nextFileNumber   varint
//       2 lastSequence     varint
//       3 lastTimestamp    varint (Int64 bit pattern: the commit clock)
//       4 logNumber        varint: log segments below it hold nothing unflushed
//       5 flushed          tableId:u32 partition:varint sequence:varint
//                          (every op of this partition with sequence ≤ it is in its SSTables)
//       6 deleteFile       tableId:u32 partition:varint level:varint fileNumber:varint
//       7 addFile          tableId:u32 partition:varint level:varint fileNumber:varint
//                          fileSize:varint entries:varint smallestSeq:varint largestSeq:varint
//                          smallestKey:lp largestKey:lp   (lp = varint length ‖ bytes; internal keys)
//
// Unknown tags are corruption: a newer writer must bump the manifest format.

/// Identifies a partition of a table.
struct PartitionID: Hashable, Sendable, Comparable {
    var tableId: UInt32
    var partition: Int

    static func < (a: PartitionID, b: PartitionID) -> Bool {
        (a.tableId, a.partition) < (b.tableId, b.partition)
    }
}

/// What the manifest knows of an SSTable.
struct FileMetadata: Sendable, Equatable {
    var number: UInt64
    var size: UInt64
    var entries: UInt64
    var smallestSequence: UInt64
    var largestSequence: UInt64
    /// Smallest and largest internal keys.
    var smallest: [UInt8]
    var largest: [UInt8]

    /// The user-key range, for overlap checks.
    var smallestUserKey: ArraySlice<UInt8> { smallest.dropLast(InternalKey.trailerSize) }
    var largestUserKey: ArraySlice<UInt8> { largest.dropLast(InternalKey.trailerSize) }
}

/// A change to the set of live files and counters.
struct VersionEdit: Equatable {
    var nextFileNumber: UInt64?
    var lastSequence: UInt64?
    var lastTimestamp: Int64?
    var logNumber: UInt64?
    var flushed: [PartitionID: UInt64] = [:]
    var deletedFiles: [(partition: PartitionID, level: Int, number: UInt64)] = []
    var addedFiles: [(partition: PartitionID, level: Int, file: FileMetadata)] = []

    static func == (a: VersionEdit, b: VersionEdit) -> Bool { a.encode() == b.encode() }

    func encode() -> [UInt8] {
        var bytes: [UInt8] = []
        if let nextFileNumber { bytes.appendVarint(1); bytes.appendVarint(nextFileNumber) }
        if let lastSequence { bytes.appendVarint(2); bytes.appendVarint(lastSequence) }
        if let lastTimestamp { bytes.appendVarint(3); bytes.appendVarint(UInt64(bitPattern: lastTimestamp)) }
        if let logNumber { bytes.appendVarint(4); bytes.appendVarint(logNumber) }
        for (partition, sequence) in flushed.sorted(by: { $0.key < $1.key }) {
            bytes.appendVarint(5)
            bytes.appendFixed32(partition.tableId)
            bytes.appendVarint(partition.partition)
            bytes.appendVarint(sequence)
        }
        for deleted in deletedFiles {
            bytes.appendVarint(6)
            bytes.appendFixed32(deleted.partition.tableId)
            bytes.appendVarint(deleted.partition.partition)
            bytes.appendVarint(deleted.level)
            bytes.appendVarint(deleted.number)
        }
        for added in addedFiles {
            bytes.appendVarint(7)
            bytes.appendFixed32(added.partition.tableId)
            bytes.appendVarint(added.partition.partition)
            bytes.appendVarint(added.level)
            bytes.appendVarint(added.file.number)
            bytes.appendVarint(added.file.size)
            bytes.appendVarint(added.file.entries)
            bytes.appendVarint(added.file.smallestSequence)
            bytes.appendVarint(added.file.largestSequence)
            bytes.appendLengthPrefixed(added.file.smallest)
            bytes.appendLengthPrefixed(added.file.largest)
        }
        return bytes
    }

    /// Decodes an edit; nil if malformed.
    static func decode(_ raw: UnsafeRawBufferPointer) -> VersionEdit? {
        var edit = VersionEdit()
        var cursor = ByteCursor(raw)
        func partition() -> PartitionID? {
            guard let table = cursor.readFixed32(), let index = cursor.readLength(limit: 1 << 20) else { return nil }
            return PartitionID(tableId: table, partition: index)
        }
        while !cursor.isAtEnd {
            guard let tag = cursor.readVarint() else { return nil }
            switch tag {
            case 1: guard let v = cursor.readVarint() else { return nil }; edit.nextFileNumber = v
            case 2: guard let v = cursor.readVarint() else { return nil }; edit.lastSequence = v
            case 3: guard let v = cursor.readVarint() else { return nil }; edit.lastTimestamp = Int64(bitPattern: v)
            case 4: guard let v = cursor.readVarint() else { return nil }; edit.logNumber = v
            case 5:
                guard let id = partition(), let sequence = cursor.readVarint() else { return nil }
                edit.flushed[id] = sequence
            case 6:
                guard let id = partition(), let level = cursor.readLength(limit: 64), let number = cursor.readVarint() else { return nil }
                edit.deletedFiles.append((id, level, number))
            case 7:
                guard let id = partition(), let level = cursor.readLength(limit: 64), let number = cursor.readVarint(),
                      let size = cursor.readVarint(), let entries = cursor.readVarint(),
                      let smallestSeq = cursor.readVarint(), let largestSeq = cursor.readVarint(),
                      let smallest = cursor.readLengthPrefixed(), let largest = cursor.readLengthPrefixed(),
                      smallest.count >= InternalKey.trailerSize, largest.count >= InternalKey.trailerSize
                else { return nil }
                edit.addedFiles.append((id, level, FileMetadata(
                    number: number, size: size, entries: entries, smallestSequence: smallestSeq,
                    largestSequence: largestSeq, smallest: Array(smallest), largest: Array(largest))))
            default:
                return nil
            }
        }
        return edit
    }
}
