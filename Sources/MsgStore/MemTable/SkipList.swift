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

    deinit { previous.deallocate() }

    init() {
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
    func insert(userKey: UnsafeRawBufferPointer, trailer: UInt64, value: UnsafeRawBufferPointer) {
        _ = findGreaterOrEqual(userKey: userKey, trailer: trailer, previous: previous)
        let nodeHeight = randomHeight()
        if nodeHeight > height {
            for level in height..<nodeHeight { previous[level] = head }
            height = nodeHeight
        }
        let keyLength = userKey.count + InternalKey.trailerSize
        let node = arena.allocate(SkipList.headerSize + 8 * nodeHeight + keyLength + value.count)
        node.storeBytes(of: UInt32(nodeHeight), as: UInt32.self)
        node.storeBytes(of: UInt32(keyLength), toByteOffset: 4, as: UInt32.self)
        node.storeBytes(of: UInt32(value.count), toByteOffset: 8, as: UInt32.self)
        let keyStart = node + SkipList.headerSize + 8 * nodeHeight
        if let base = userKey.baseAddress { keyStart.copyMemory(from: base, byteCount: userKey.count) }
        (keyStart + userKey.count).storeBytes(of: trailer.littleEndian, as: UInt64.self)
        if let base = value.baseAddress { (keyStart + keyLength).copyMemory(from: base, byteCount: value.count) }
        for level in 0..<nodeHeight {
            SkipList.setNext(node, level, SkipList.next(previous[level], level))
            SkipList.setNext(previous[level], level, node)
        }
        count += 1
    }
}
