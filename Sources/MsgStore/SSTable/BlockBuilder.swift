/// Builds the decoded form of a block: sorted entries with prefix-compressed
/// keys and restart points (LevelDB's `table/block_builder.cc`):
///
///     +------------------------------------------------------------------+
///     | entry 0 | entry 1 | ... | entry n-1                              |
///     | restart[0]: u32 LE | ... | restart[r-1]: u32 LE | r: u32 LE      |
///     +------------------------------------------------------------------+
///     entry = varint(shared) ‖ varint(nonShared) ‖ varint(valueLength)
///             ‖ key[shared...] (nonShared bytes) ‖ value
///
/// `shared` is the length of the prefix the key has in common with the
/// previous key; it is 0 at every restart point (every `restartInterval`-th
/// entry), and `restart[i]` is the offset of the i-th restart entry, so a
/// reader can binary-search restarts and then scan at most one interval.
struct BlockBuilder {
    /// Entries between restart points (1 for index blocks: every key whole).
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private var lastKey: [UInt8] = []
    /// Entries added since the last reset.
    private(set) var entryCount = 0

    /// Creates an empty builder.
    init(restartInterval: Int) {
        precondition(restartInterval >= 1)
        self.restartInterval = restartInterval
    }

    /// Whether no entry has been added.
    var isEmpty: Bool { entryCount == 0 }

    /// The size `finish()` would return now.
    var estimatedSize: Int { buffer.count + restarts.count * 4 + 4 }

    /// The key added last.
    var lastKeyAdded: [UInt8] { lastKey }

    /// Adds an entry. REQUIRES: `key` sorts after every key added before
    /// (the table builder checks the order).
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let limit = Swift.min(lastKey.count, key.count)
            lastKey.withUnsafeBufferPointer { last in
                while shared < limit && last[shared] == key[shared] { shared += 1 }
            }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        let nonShared = key.count - shared
        buffer.appendVarint(UInt64(shared))
        buffer.appendVarint(UInt64(nonShared))
        buffer.appendVarint(UInt64(value.count))
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        buffer.append(contentsOf: value)
        lastKey.removeSubrange(shared...)
        lastKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        counter += 1
        entryCount += 1
    }

    /// Adds an entry from arrays.
    mutating func add(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(k, v) } }
    }

    /// Appends the restart array and returns the block's bytes; the builder is reset.
    mutating func finish() -> [UInt8] {
        var result = buffer
        for restart in restarts { result.appendFixed32(restart) }
        result.appendFixed32(UInt32(restarts.count))
        reset()
        return result
    }

    /// Empties the builder, keeping its capacity.
    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        restarts.removeAll(keepingCapacity: true)
        restarts.append(0)
        counter = 0
        lastKey.removeAll(keepingCapacity: true)
        entryCount = 0
    }
}
