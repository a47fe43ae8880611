/// A growable byte buffer whose bytes stay at one address until the next
/// mutation; iterators rebuild prefix-compressed keys into it without
/// allocating per entry.
///
/// Invariants: `storage` points to `capacity` allocated bytes owned by this
/// object; `count <= capacity`. ``bytes`` is valid until the next mutating
/// call or until the buffer is released. Not thread-safe (one owner), which
/// is why dynamic exclusivity checks are off for its fields (hot path).
final class ScratchBuffer {
    @exclusivity(unchecked) private var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    /// Bytes in use.
    @exclusivity(unchecked) private(set) var count = 0

    /// Creates an empty buffer with room for `capacity` bytes.
    init(capacity: Int = 64) {
        self.capacity = Swift.max(capacity, 16)
        storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    /// A view of the bytes in use, valid until the next mutation.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    /// Keeps the first `prefix` bytes and appends `suffix`.
    /// REQUIRES: `prefix <= count`; `suffix` does not point into this buffer.
    func replace(keeping prefix: Int, appending suffix: UnsafeRawBufferPointer) {
        assert(prefix <= count)
        let needed = prefix + suffix.count
        if needed > capacity { grow(to: needed, keeping: prefix) }
        if let source = suffix.baseAddress, suffix.count > 0 {
            (storage + prefix).copyMemory(from: source, byteCount: suffix.count)
        }
        count = needed
    }

    /// Replaces the contents with `bytes`.
    func assign(_ bytes: UnsafeRawBufferPointer) { replace(keeping: 0, appending: bytes) }

    /// Empties the buffer, keeping its capacity.
    func removeAll() { count = 0 }

    /// A copy of the bytes in use.
    var array: [UInt8] { Array(bytes) }

    private func grow(to needed: Int, keeping prefix: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newStorage.copyMemory(from: storage, byteCount: prefix)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }
}
