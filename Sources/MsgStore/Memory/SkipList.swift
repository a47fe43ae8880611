/// An ordered map of internal keys to values: a skip list whose nodes live in
/// an ``Arena`` (no per-entry object, no reference counting on the hot path).
///
/// Node layout (8-byte aligned, in the arena):
///
///     +------------+------------+------------+---------+-----------------+--------------+-------+
///     | height u32 | keyLen u32 | valLen u32 | pad u32 | next[height] u64| internal key | value |
///     +------------+------------+------------+---------+-----------------+--------------+-------+
///
/// `next[i]` is the address of the following node at level `i` (0 = none).
/// Ordering is ``InternalKey/compare(_:_:)``: user key ascending, sequence
/// descending. Keys are unique (a sequence number is used once).
///
/// Not thread-safe by itself: ``MemTable`` serializes access. Nodes are never
/// removed or moved, so a node address stays valid while the list lives.
final class SkipList {
    static let maxHeight = 12
    private static let headerSize = 16

    let arena = Arena()
    private let head: UnsafeMutableRawPointer
    private var height = 1
    private var randomState: UInt64 = 0x9E37_79B9_7F4A_7C15
    private(set) var count = 0
    /// Scratch for `insert`: the predecessor at each level (one writer, so one buffer).
    private let previous = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: SkipList.maxHeight)
    /// Insert hints: slot (a hash of the key's row prefix — one partition key)
    /// → address of the node last inserted with that prefix, 0 when none.
    /// Rows of one partition key often arrive in sort-key order (sort keys that
    /// begin with a commit stamp grow with time), so the new key usually belongs right after that
    /// node. A hint is only a guess: it is used only after checking order on
    /// both sides, so a stale or colliding hint costs a full search, never a
    /// misplaced node (nodes are never removed, so a hint always points to one).
    private let hints: UnsafeMutablePointer<UInt>
    static let hintSlots = 4096
    /// Inserts that took the hinted path (for tests and tuning).
    private(set) var hintedInserts = 0

    deinit {
        previous.deallocate()
        hints.deallocate()
    }

    init() {
        hints = .allocate(capacity: SkipList.hintSlots)
        hints.initialize(repeating: 0, count: SkipList.hintSlots)
        head = arena.allocate(SkipList.headerSize + 8 * SkipList.maxHeight)
        head.storeBytes(of: UInt32(SkipList.maxHeight), as: UInt32.self)
        head.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)
        head.storeBytes(of: 0, toByteOffset: 8, as: UInt32.self)
        for level in 0..<SkipList.maxHeight { SkipList.setNext(head, level, nil) }
    }

    // MARK: Node accessors

    @inline(__always) static func next(_ node: UnsafeMutableRawPointer, _ level: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: node.load(fromByteOffset: headerSize + 8 * level, as: UInt.self))
    }

    @inline(__always) static func setNext(_ node: UnsafeMutableRawPointer, _ level: Int, _ target: UnsafeMutableRawPointer?) {
        node.storeBytes(of: UInt(bitPattern: target), toByteOffset: headerSize + 8 * level, as: UInt.self)
    }

    @inline(__always) static func key(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let height = Int(node.load(as: UInt32.self))
        let keyLength = Int(node.load(fromByteOffset: 4, as: UInt32.self))
        return UnsafeRawBufferPointer(start: node + headerSize + 8 * height, count: keyLength)
    }

    @inline(__always) static func value(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let height = Int(node.load(as: UInt32.self))
        let keyLength = Int(node.load(fromByteOffset: 4, as: UInt32.self))
        let valueLength = Int(node.load(fromByteOffset: 8, as: UInt32.self))
        return UnsafeRawBufferPointer(start: node + headerSize + 8 * height + keyLength, count: valueLength)
    }

    /// Memory the list holds.
    var bytesReserved: Int { arena.bytesReserved }

    private func randomHeight() -> Int {
        var height = 1
        while height < SkipList.maxHeight {
            // xorshift64*: cheap and good enough for level choice (branching factor 4).
            randomState ^= randomState >> 12
            randomState ^= randomState << 25
            randomState ^= randomState >> 27
            let random = randomState &* 0x2545_F491_4F6C_DD1D
            if random >> 62 != 0 { break }
            height += 1
        }
        return height
    }

    // MARK: Search

    /// The first node whose key is ≥ the internal key (`userKey`, `trailer`),
    /// filling `previous` with the last node before it at each level if given.
    @inline(__always)
    private func findGreaterOrEqual(
        userKey: UnsafeRawBufferPointer, trailer: UInt64,
        previous: UnsafeMutablePointer<UnsafeMutableRawPointer>?
    ) -> UnsafeMutableRawPointer? {
        var node = head
        var level = height - 1
        while true {
            let candidate = SkipList.next(node, level)
            if let candidate, SkipList.isBefore(candidate, userKey: userKey, trailer: trailer) {
                node = candidate
            } else {
                previous?[level] = node
                if level == 0 { return candidate }
                level -= 1
            }
        }
    }

    /// Whether the node's key orders before (`userKey`, `trailer`).
    @inline(__always)
    private static func isBefore(_ node: UnsafeMutableRawPointer, userKey: UnsafeRawBufferPointer, trailer: UInt64) -> Bool {
        let key = SkipList.key(node)
        let order = compareBytes(InternalKey.userKey(key), userKey)
        if order != 0 { return order < 0 }
        return InternalKey.trailer(key) > trailer
    }

    /// The first node at or after (`userKey`, `trailer`).
    func seek(userKey: UnsafeRawBufferPointer, trailer: UInt64) -> UnsafeMutableRawPointer? {
        findGreaterOrEqual(userKey: userKey, trailer: trailer, previous: nil)
    }

    /// The first node.
    var first: UnsafeMutableRawPointer? { SkipList.next(head, 0) }

    // MARK: Insert

    /// Inserts `userKey ‖ trailer` → `value`. REQUIRES: no entry with the same internal key.
    ///
    /// - Parameter prefixLength: the length of the key's row prefix (its
    ///   partition key), which selects an insert hint; nil for no hint.
    /// - Complexity: O(1) expected when the hint holds and the new node has
    ///   height 1 (three quarters of nodes); otherwise O(log n).
    func insert(userKey: UnsafeRawBufferPointer, trailer: UInt64, value: UnsafeRawBufferPointer, prefixLength: Int? = nil) {
        let nodeHeight = randomHeight()
        var slot = -1
        if let prefixLength, prefixLength > 0, prefixLength <= userKey.count {
            slot = Int(SkipList.hintHash(UnsafeRawBufferPointer(rebasing: userKey[..<prefixLength])) % UInt64(SkipList.hintSlots))
            if nodeHeight == 1, let hint = UnsafeMutableRawPointer(bitPattern: hints[slot]),
               SkipList.isBefore(hint, userKey: userKey, trailer: trailer) {
                let next = SkipList.next(hint, 0)
                if next == nil || !SkipList.isBefore(next!, userKey: userKey, trailer: trailer) {
                    // hint < new < next: only level 0 changes for a node of height 1.
                    let node = makeNode(userKey: userKey, trailer: trailer, value: value, height: 1)
                    SkipList.setNext(node, 0, next)
                    SkipList.setNext(hint, 0, node)
                    count += 1
                    hintedInserts += 1
                    hints[slot] = UInt(bitPattern: node)
                    return
                }
            }
        }
        _ = findGreaterOrEqual(userKey: userKey, trailer: trailer, previous: previous)
        if nodeHeight > height {
            for level in height..<nodeHeight { previous[level] = head }
            height = nodeHeight
        }
        let node = makeNode(userKey: userKey, trailer: trailer, value: value, height: nodeHeight)
        for level in 0..<nodeHeight {
            SkipList.setNext(node, level, SkipList.next(previous[level], level))
            SkipList.setNext(previous[level], level, node)
        }
        count += 1
        if slot >= 0 { hints[slot] = UInt(bitPattern: node) }
    }

    /// A word-at-a-time hash of a row prefix, for the hint slots.
    @inline(__always)
    static func hintHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var offset = 0
        while offset + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            offset += 8
        }
        while offset < bytes.count {
            h = (h ^ UInt64(bytes[offset])) &* 0xC4CE_B9FE_1A85_EC53
            offset += 1
        }
        return h ^ (h >> 31)
    }

    /// Allocates and fills a node (links not set).
    @inline(__always)
    private func makeNode(userKey: UnsafeRawBufferPointer, trailer: UInt64, value: UnsafeRawBufferPointer, height nodeHeight: Int) -> UnsafeMutableRawPointer {
        let keyLength = userKey.count + InternalKey.trailerSize
        let node = arena.allocate(SkipList.headerSize + 8 * nodeHeight + keyLength + value.count)
        node.storeBytes(of: UInt32(nodeHeight), as: UInt32.self)
        node.storeBytes(of: UInt32(keyLength), toByteOffset: 4, as: UInt32.self)
        node.storeBytes(of: UInt32(value.count), toByteOffset: 8, as: UInt32.self)
        let keyStart = node + SkipList.headerSize + 8 * nodeHeight
        if let base = userKey.baseAddress { keyStart.copyMemory(from: base, byteCount: userKey.count) }
        (keyStart + userKey.count).storeBytes(of: trailer.littleEndian, as: UInt64.self)
        if let base = value.baseAddress { (keyStart + keyLength).copyMemory(from: base, byteCount: value.count) }
        return node
    }
}
