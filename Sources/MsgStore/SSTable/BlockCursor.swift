/// A position inside one ``Block``: decodes entries in place, rebuilding the
/// prefix-compressed key into a ``ScratchBuffer`` and exposing the value as a
/// view into the block. Nothing is allocated per entry.
///
/// ``key`` and ``value`` are valid until the cursor moves or its block is
/// replaced. Any malformed entry throws ``StoreError/Code/corruption`` naming
/// the block's file and offset; the cursor is then invalid.
struct BlockCursor {
    /// The block being read (the cursor holds it alive).
    private(set) var block: Block {
        didSet {
            bytes = block.bytes
            limit = block.restartsOffset
        }
    }
    /// `block.bytes` and `block.restartsOffset`, copied so that the hot path
    /// does not touch the class (no retain/release per entry).
    private var bytes: UnsafeRawBufferPointer
    private var limit: Int
    /// Holds the current key (shared with the owner so that it survives block changes).
    let keyBuffer: ScratchBuffer
    /// Whether keys are internal keys (data and index blocks): they must be at
    /// least 8 bytes and seeks compare them with ``InternalKey/compare(_:_:)``.
    let internalKeys: Bool
    /// Offset of the current entry; `block.restartsOffset` when invalid.
    private(set) var current: Int
    /// Offset of the entry after the current one.
    private var nextOffset: Int
    private var valueStart = 0
    private var valueCount = 0

    /// A cursor positioned nowhere (call a seek).
    init(block: Block, keyBuffer: ScratchBuffer, internalKeys: Bool) {
        self.block = block
        self.bytes = block.bytes
        self.limit = block.restartsOffset
        self.keyBuffer = keyBuffer
        self.internalKeys = internalKeys
        current = block.restartsOffset
        nextOffset = block.restartsOffset
    }

    /// Whether the cursor is at an entry.
    @inline(__always) var isValid: Bool { current < limit }

    /// The current key (valid until the cursor moves). REQUIRES: `isValid`.
    @inline(__always) var key: UnsafeRawBufferPointer { keyBuffer.bytes }

    /// The current value (a view into the block). REQUIRES: `isValid`.
    @inline(__always) var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[valueStart..<(valueStart + valueCount)])
    }

    /// Switches to another block, positioned nowhere.
    mutating func reset(to block: Block) {
        self.block = block
        invalidate()
    }

    private mutating func invalidate() {
        current = limit
        nextOffset = limit
        keyBuffer.removeAll()
    }

    /// Moves to the first entry.
    mutating func seekToFirst() throws {
        keyBuffer.removeAll()
        nextOffset = 0
        try next()
    }

    /// Moves to the next entry (or becomes invalid at the end).
    mutating func next() throws {
        let offset = nextOffset
        current = limit  // invalid until the entry decodes
        guard offset < limit else {
            invalidate()
            return
        }
        let entry = try decodeEntry(at: offset)
        guard entry.shared <= keyBuffer.count else { throw corruption("shared key length exceeds previous key", at: offset) }
        keyBuffer.replace(keeping: entry.shared, appending: UnsafeRawBufferPointer(rebasing: bytes[entry.keyStart..<(entry.keyStart + entry.nonShared)]))
        if internalKeys && keyBuffer.count < InternalKey.trailerSize {
            throw corruption("internal key shorter than its trailer", at: offset)
        }
        current = offset
        valueStart = entry.keyStart + entry.nonShared
        valueCount = entry.valueCount
        nextOffset = valueStart + valueCount
    }

    /// Moves to the first entry whose internal key is at or after `target`.
    /// REQUIRES: `internalKeys`; `target.count >= 8`.
    /// - Complexity: O(log r + i): a binary search over the r restart points,
    ///   then a scan of at most one restart interval i.
    mutating func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws {
        assert(internalKeys && target.count >= InternalKey.trailerSize)
        current = limit  // invalid until the seek succeeds
        var left = 0
        var right = (bytes.count - 4 - limit) / 4 - 1  // restart count - 1
        while left < right {
            let mid = (left + right + 1) / 2
            let offset = restartPoint(mid)
            let entry = try decodeEntry(at: offset)
            guard entry.shared == 0, entry.nonShared >= InternalKey.trailerSize else {
                throw corruption("restart entry does not hold a whole key", at: offset)
            }
            let restartKey = UnsafeRawBufferPointer(rebasing: bytes[entry.keyStart..<(entry.keyStart + entry.nonShared)])
            if InternalKey.compare(restartKey, target) < 0 { left = mid } else { right = mid - 1 }
        }
        keyBuffer.removeAll()
        nextOffset = restartPoint(left)
        try next()
        while isValid && InternalKey.compare(keyBuffer.bytes, target) < 0 {
            try next()
        }
    }

    /// Restart `index` (the restart array starts at `limit`; validated by ``Block``).
    @inline(__always)
    private func restartPoint(_ index: Int) -> Int {
        Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: limit + 4 * index, as: UInt32.self)))
    }

    private struct Entry {
        var shared: Int
        var nonShared: Int
        var valueCount: Int
        var keyStart: Int
    }

    /// Decodes the header at `offset` and checks that key and value lie inside the entries.
    @inline(__always)
    private func decodeEntry(at offset: Int) throws -> Entry {
        // Fast path: three one-byte varints.
        if limit - offset >= 3 {
            let a = bytes[offset], b = bytes[offset + 1], c = bytes[offset + 2]
            if (a | b | c) < 0x80 {
                let entry = Entry(shared: Int(a), nonShared: Int(b), valueCount: Int(c), keyStart: offset + 3)
                guard entry.nonShared + entry.valueCount <= limit - entry.keyStart else {
                    throw corruption("entry overruns its block", at: offset)
                }
                return entry
            }
        }
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[..<limit]), offset: offset)
        guard let shared = cursor.readLength(), let nonShared = cursor.readLength(), let valueCount = cursor.readLength() else {
            throw corruption("malformed entry header", at: offset)
        }
        let keyStart = cursor.offset
        guard nonShared <= limit - keyStart, valueCount <= limit - keyStart - nonShared else {
            throw corruption("entry overruns its block", at: offset)
        }
        return Entry(shared: shared, nonShared: nonShared, valueCount: valueCount, keyStart: keyStart)
    }

    private func corruption(_ message: String, at offset: Int) -> StoreError {
        StoreError.corruption("\(message) (entry at byte \(offset) of the decoded block)", file: block.file, offset: block.fileOffset)
    }
}
