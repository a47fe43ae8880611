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

    init(path: String, mode: Mode = .strict, maxRecordBytes: Int = 256 << 20) {
        self.path = path
        self.mode = mode
        self.maxRecordBytes = maxRecordBytes
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

        func problem(at offset: Int, _ reason: String, resumeAt: Int?) throws -> Summary {
            let start = recordStart >= 0 ? recordStart : offset
            if mode == .strict, let later = firstValidFragment(in: bytes, after: offset, candidate: resumeAt) {
                throw StoreError.corruption(
                    "\(reason); a valid record follows at offset \(later), so this is not a torn tail",
                    file: path, offset: Int64(offset))
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
    /// length was plausible), then at every later block boundary.
    private func firstValidFragment(in bytes: UnsafeRawBufferPointer, after offset: Int, candidate: Int?) -> Int? {
        if let candidate, isValidFragment(bytes, at: candidate) { return candidate }
        var blockStart = (offset / LogFormat.blockSize + 1) * LogFormat.blockSize
        while blockStart < bytes.count {
            if isValidFragment(bytes, at: blockStart) { return blockStart }
            blockStart += LogFormat.blockSize
        }
        return nil
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
