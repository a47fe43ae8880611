/// Appends framed records (docs/log-format.md, byte diagram in LogFormat.swift)
/// to a file.
///
/// Records are framed into an in-memory buffer by ``append(_:)``; ``flush()``
/// writes the buffer with one `pwrite`, and ``sync()`` makes it durable. Group
/// commit frames many records, then flushes and syncs once.
///
/// Not thread-safe: one owner (the commit leader, the queue's writer) at a time.
final class LogWriter {
    let file: any StorageFile
    /// Bytes of the file already written (the next `pwrite` offset).
    private(set) var flushedLength: Int64
    /// Framed bytes not yet written.
    private var pending: [UInt8] = []
    /// Position within the current 32 KiB block, counting pending bytes.
    private var blockOffset: Int

    /// Opens a writer that appends at `length` (the current, valid size of the file).
    init(file: any StorageFile, length: Int64 = 0) {
        self.file = file
        self.flushedLength = length
        self.blockOffset = Int(length % Int64(LogFormat.blockSize))
        pending.reserveCapacity(64 * 1024)
    }

    /// The length the file will have once pending bytes are flushed.
    var length: Int64 { flushedLength + Int64(pending.count) }

    /// Whether framed bytes wait for ``flush()``.
    var hasPendingBytes: Bool { !pending.isEmpty }

    /// Frames one record into the pending buffer.
    func append(_ record: UnsafeRawBufferPointer) {
        var remaining = record.count
        var position = 0
        var isFirst = true
        repeat {
            let leftInBlock = LogFormat.blockSize - blockOffset
            if leftInBlock < LogFormat.headerSize {
                // Trailer: too small for a header. Zero-fill and start a new block.
                pending.append(contentsOf: repeatElement(0, count: leftInBlock))
                blockOffset = 0
            }
            let available = LogFormat.blockSize - blockOffset - LogFormat.headerSize
            let fragmentLength = min(remaining, available)
            let isLast = fragmentLength == remaining
            let type: LogFormat.FragmentType =
                isFirst && isLast ? .full : isFirst ? .first : isLast ? .last : .middle
            let fragment = UnsafeRawBufferPointer(rebasing: record[position..<(position + fragmentLength)])
            emit(type: type, payload: fragment)
            position += fragmentLength
            remaining -= fragmentLength
            isFirst = false
        } while remaining > 0
    }

    /// Frames one record given as an array.
    func append(_ record: [UInt8]) {
        record.withUnsafeBytes { append($0) }
    }

    private func emit(type: LogFormat.FragmentType, payload: UnsafeRawBufferPointer) {
        var crc = withUnsafeBytes(of: type.rawValue) { CRC32C.checksum($0) }
        crc = CRC32C.checksum(payload, continuing: crc)
        pending.appendFixed32(CRC32C.mask(crc))
        pending.appendFixed16(UInt16(payload.count))
        pending.append(type.rawValue)
        pending.append(contentsOf: payload)
        blockOffset += LogFormat.headerSize + payload.count
        assert(blockOffset <= LogFormat.blockSize, "a fragment crossed a block boundary")
    }

    /// Writes the pending bytes with one `pwrite`. On failure the pending bytes
    /// are kept; the caller must treat the log as failed (the file may hold a
    /// partial write, which recovery cuts as a torn tail).
    func flush() throws {
        guard !pending.isEmpty else { return }
        try file.write(pending, at: flushedLength)
        flushedLength += Int64(pending.count)
        pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
    }

    /// Forgets the framed bytes not yet written (a group that failed: they
    /// must never reach the file later), and cuts the file back to
    /// `length` when it is shorter than what was written.
    func discardPending(restoringLength length: Int64? = nil) {
        pending.removeAll(keepingCapacity: false)
        if let length, length < flushedLength {
            flushedLength = length
        }
        blockOffset = Int(flushedLength % Int64(LogFormat.blockSize))
    }

    /// Writes the pending bytes and, with `sync`, makes them durable. On
    /// failure none of them may reach the file later: they are dropped, and
    /// the file is cut back (best effort) to where this call began. Throws a
    /// ``StoreError`` (`what` names the write in a foreign error).
    func commitOrAbandon(sync: Bool, describing what: String) throws {
        let start = flushedLength
        do {
            try flush()
            if sync { try self.sync() }
        } catch {
            discardPending(restoringLength: start)
            try? file.truncate(to: start)
            try? file.sync()
            throw error as? StoreError ?? StoreError(.io, "\(what) failed: \(error)")
        }
    }

    /// `fdatasync` of everything flushed so far.
    func sync() throws {
        try file.sync()
    }

    /// Closes the file (flushing first).
    func close() throws {
        try flush()
        try file.close()
    }
}
