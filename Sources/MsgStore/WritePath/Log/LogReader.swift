/// Reads framed records (docs/log-format.md) back, checking every fragment.
///
/// What happens at a bad fragment depends on what follows it:
/// - nothing valid follows (a record cut by a crash, or zeros/garbage past the
///   last synced byte): a **torn tail**. Reading stops; ``Summary/tornTail``
///   says where, and the owner cuts the file there.
/// - a valid fragment follows: **corruption in the middle**. With
///   ``Mode/strict`` reading throws ``StoreError/Code/corruption`` naming the
///   file and the offset of the bad fragment; with ``Mode/pointInTime`` it
///   stops there like a torn tail (the caller asked to repair).
struct LogReader {
    /// What to do with corruption before the tail.
    enum Mode: Sendable {
        case strict
        case pointInTime
    }

    /// How the file ended.
    struct Summary: Equatable {
        /// Records delivered.
        var records = 0
        /// End of the last good record: the file's valid length.
        var validLength: Int64 = 0
        /// Where an incomplete or bad tail starts, and why, if there was one.
        var tornTail: (offset: Int64, reason: String)?

        static func == (a: Summary, b: Summary) -> Bool {
            a.records == b.records && a.validLength == b.validLength && a.tornTail?.offset == b.tornTail?.offset
        }
    }

    let path: String
    let mode: Mode
    /// The largest record accepted; longer ones are corruption.
    let maxRecordBytes: Int
    /// For a file still being appended to when the process stopped (the live
    /// log segment): reads a *synced-length checkpoint* out of a record (nil
    /// for other records). A bad region followed by valid fragments is then
    /// damage only if some checkpoint says the bytes there were synced;
    /// otherwise it is a hole in the unsynced tail (power loss persisted a
    /// later page without an earlier one: nothing from the hole on was
    /// acknowledged, since `fdatasync` covers the whole file) and is cut like
    /// a torn tail.
    let syncedLength: ((UnsafeRawBufferPointer) -> Int64?)?

    init(path: String, mode: Mode = .strict, maxRecordBytes: Int = 256 << 20,
         syncedLength: ((UnsafeRawBufferPointer) -> Int64?)? = nil) {
        self.path = path
        self.mode = mode
        self.maxRecordBytes = maxRecordBytes
        self.syncedLength = syncedLength
    }

    /// Reads the file through `fileSystem` and delivers each record with its starting offset.
    func read(
        using fileSystem: any FileSystem,
        _ body: (_ offset: Int64, _ record: UnsafeRawBufferPointer) throws -> Void
    ) throws -> Summary {
        let file = try fileSystem.open(path, mode: .read)
        defer { try? file.close() }
        let bytes = try file.readAll()
        return try bytes.withUnsafeBytes { try read(bytes: $0, body) }
    }

    /// Delivers each record of `bytes` (a whole log file) with its starting offset.
    func read(
        bytes: UnsafeRawBufferPointer,
        _ body: (_ offset: Int64, _ record: UnsafeRawBufferPointer) throws -> Void
    ) throws -> Summary {
        var summary = Summary()
        var position = 0
        var assembling: [UInt8] = []
        var recordStart = -1  // offset of the first fragment of the record being assembled
        var synced: Int64 = 0  // the largest synced-length checkpoint read so far

        func problem(at offset: Int, _ reason: String, resumeAt: Int?) throws -> Summary {
            let start = recordStart >= 0 ? recordStart : offset
            if mode == .strict, let later = firstValidFragment(in: bytes, after: offset, candidate: resumeAt) {
                guard let syncedLength else {
                    throw StoreError.corruption(
                        "\(reason); a valid record follows at offset \(later), so this is not a torn tail",
                        file: path, offset: Int64(offset))
                }
                scanRecords(in: bytes, from: later) { record in
                    if let length = syncedLength(record) { synced = max(synced, length) }
                }
                if synced > Int64(offset) {
                    throw StoreError.corruption(
                        "\(reason), inside the region synced through offset \(synced) (a valid record follows at offset \(later))",
                        file: path, offset: Int64(offset))
                }
                summary.tornTail = (Int64(start), "\(reason): a hole in the unsynced tail (synced through offset \(synced)); "
                                    + "\(bytes.count - start) bytes from here were never acknowledged")
                return summary
            }
            summary.tornTail = (Int64(start), reason)
            return summary
        }

        while position < bytes.count {
            let leftInBlock = LogFormat.blockSize - position % LogFormat.blockSize
            if leftInBlock < LogFormat.headerSize {
                position += leftInBlock
                continue
            }
            if bytes.count - position < LogFormat.headerSize {
                return try problem(at: position, "truncated fragment header", resumeAt: nil)
            }
            let stored = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian
            let length = Int(bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt16.self).littleEndian)
            let typeByte = bytes[position + 6]
            if typeByte == 0 && length == 0 && stored == 0 {
                // Zero fill (a preallocated or never-written region): the data ends here
                // unless something valid follows.
                return try problem(at: position, "zero-filled region", resumeAt: nil)
            }
            let payloadStart = position + LogFormat.headerSize
            if length > leftInBlock - LogFormat.headerSize {
                return try problem(at: position, "bad fragment length \(length)", resumeAt: nil)
            }
            if payloadStart + length > bytes.count {
                return try problem(at: position, "fragment cut short by end of file", resumeAt: nil)
            }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<(payloadStart + length)])
            var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(position + 6)..<(position + 7)]))
            crc = CRC32C.checksum(payload, continuing: crc)
            if CRC32C.mask(crc) != stored {
                return try problem(at: position, "checksum mismatch", resumeAt: payloadStart + length)
            }
            guard let type = LogFormat.FragmentType(rawValue: typeByte), type != .zero else {
                return try problem(at: position, "unknown fragment type \(typeByte)", resumeAt: payloadStart + length)
            }
            switch type {
            case .full:
                if recordStart >= 0 { return try problem(at: position, "full fragment inside a record", resumeAt: nil) }
                if let syncedLength, let length = syncedLength(payload) { synced = max(synced, length) }
                try body(Int64(position), payload)
                summary.records += 1
                summary.validLength = Int64(payloadStart + length)
            case .first:
                if recordStart >= 0 { return try problem(at: position, "first fragment inside a record", resumeAt: nil) }
                recordStart = position
                assembling.removeAll(keepingCapacity: true)
                assembling.append(contentsOf: payload)
            case .middle, .last:
                if recordStart < 0 {
                    return try problem(at: position, "\(type) fragment without a first", resumeAt: payloadStart + length)
                }
                assembling.append(contentsOf: payload)
                if assembling.count > maxRecordBytes {
                    return try problem(at: position, "record longer than \(maxRecordBytes) bytes", resumeAt: nil)
                }
                if type == .last {
                    if let syncedLength, let length = assembling.withUnsafeBytes(syncedLength) { synced = max(synced, length) }
                    try assembling.withUnsafeBytes { try body(Int64(recordStart), $0) }
                    summary.records += 1
                    summary.validLength = Int64(payloadStart + length)
                    recordStart = -1
                }
            case .zero:
                break
            }
            position = payloadStart + length
        }
        if recordStart >= 0 {
            summary.tornTail = (Int64(recordStart), "record cut short by end of file")
        }
        return summary
    }

    /// The offset of a valid fragment after `offset`, if any: first at
    /// `candidate` (where the next fragment would start when the bad one's
    /// length was plausible), then at every later byte — a damaged length
    /// hides where the next fragment starts, even within the same block.
    /// Runs of zero bytes (a preallocated tail) are skipped eight at a time:
    /// a fragment's type byte is never zero.
    private func firstValidFragment(in bytes: UnsafeRawBufferPointer, after offset: Int, candidate: Int?) -> Int? {
        if let candidate, candidate > offset, isValidFragment(bytes, at: candidate) { return candidate }
        let typeOffset = 6
        var position = offset + 1
        while position + LogFormat.headerSize <= bytes.count {
            let typeAt = position + typeOffset
            if typeAt + 8 <= bytes.count, bytes.loadUnaligned(fromByteOffset: typeAt, as: UInt64.self) == 0 {
                position += 8
                continue
            }
            let type = bytes[typeAt]
            if type >= 1, type <= 4, isValidFragment(bytes, at: position) { return position }
            position += 1
        }
        return nil
    }

    /// Delivers every whole record found in `bytes` from `start` on, jumping
    /// over damage to the next valid fragment (used only to look for
    /// checkpoints past a bad region).
    private func scanRecords(in bytes: UnsafeRawBufferPointer, from start: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        var position = start
        var assembling: [UInt8] = []
        var inRecord = false
        while position + LogFormat.headerSize <= bytes.count {
            let leftInBlock = LogFormat.blockSize - position % LogFormat.blockSize
            if leftInBlock < LogFormat.headerSize {
                position += leftInBlock
                continue
            }
            guard isValidFragment(bytes, at: position) else {
                inRecord = false
                guard let next = firstValidFragment(in: bytes, after: position, candidate: nil) else { return }
                position = next
                continue
            }
            let length = Int(bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt16.self).littleEndian)
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(position + LogFormat.headerSize)..<(position + LogFormat.headerSize + length)])
            switch LogFormat.FragmentType(rawValue: bytes[position + 6]) {
            case .full:
                inRecord = false
                body(payload)
            case .first:
                inRecord = true
                assembling.removeAll(keepingCapacity: true)
                assembling.append(contentsOf: payload)
            case .middle:
                if inRecord { assembling.append(contentsOf: payload) }
                if assembling.count > maxRecordBytes { inRecord = false }
            case .last:
                if inRecord {
                    assembling.append(contentsOf: payload)
                    assembling.withUnsafeBytes { body($0) }
                }
                inRecord = false
            default:
                inRecord = false
            }
            position += LogFormat.headerSize + length
        }
    }

    private func isValidFragment(_ bytes: UnsafeRawBufferPointer, at position: Int) -> Bool {
        let leftInBlock = LogFormat.blockSize - position % LogFormat.blockSize
        guard leftInBlock >= LogFormat.headerSize, bytes.count - position >= LogFormat.headerSize else { return false }
        let stored = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian
        let length = Int(bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt16.self).littleEndian)
        let typeByte = bytes[position + 6]
        guard typeByte >= 1, typeByte <= 4, length <= leftInBlock - LogFormat.headerSize,
              position + LogFormat.headerSize + length <= bytes.count else { return false }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(position + 7)..<(position + 7 + length)])
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(position + 6)..<(position + 7)]))
        crc = CRC32C.checksum(payload, continuing: crc)
        return CRC32C.mask(crc) == stored
    }
}
