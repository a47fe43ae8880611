/// Keys as the LSM stores them.
///
/// Inside a partition every entry is an *internal key*: the user key followed
/// by an 8-byte little-endian trailer `sequence << 8 | kind`:
///
///     +----------------------+------------------------------------+
///     | user key (n bytes)   | trailer: u64 LE = seq << 8 | kind  |
///     +----------------------+------------------------------------+
///
/// Internal keys sort by user key ascending (bytewise), then by sequence
/// *descending*, so that a seek to `(key, snapshot)` lands on the newest
/// version visible at that snapshot (LevelDB's `dbformat.h`).
enum InternalKey {
    /// Bytes of the trailer.
    static let trailerSize = 8
    /// The largest sequence number (56 bits).
    static let maxSequence: UInt64 = (1 << 56) - 1

    /// What an entry is.
    enum Kind: UInt8 {
        /// A tombstone: the key was deleted at this sequence.
        case deletion = 0
        /// A value.
        case value = 1
    }

    /// The trailer for `sequence` and `kind`.
    @inline(__always)
    static func trailer(sequence: UInt64, kind: Kind) -> UInt64 {
        (sequence << 8) | UInt64(kind.rawValue)
    }

    /// Appends `userKey ‖ trailer` to `buffer`.
    static func append(userKey: UnsafeRawBufferPointer, sequence: UInt64, kind: Kind, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: userKey)
        buffer.appendFixed64(trailer(sequence: sequence, kind: kind))
    }

    /// Builds an internal key.
    static func make(userKey: [UInt8], sequence: UInt64, kind: Kind) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(userKey.count + trailerSize)
        userKey.withUnsafeBytes { append(userKey: $0, sequence: sequence, kind: kind, to: &buffer) }
        return buffer
    }

    /// The user-key part of an internal key. REQUIRES: `key.count >= 8`.
    @inline(__always)
    static func userKey(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: key[..<(key.count - trailerSize)])
    }

    /// The trailer of an internal key. REQUIRES: `key.count >= 8`.
    @inline(__always)
    static func trailer(_ key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: key.loadUnaligned(fromByteOffset: key.count - trailerSize, as: UInt64.self))
    }

    /// Sequence number of an internal key.
    @inline(__always)
    static func sequence(_ key: UnsafeRawBufferPointer) -> UInt64 { trailer(key) >> 8 }

    /// Kind of an internal key (`nil` if the byte is not a known kind: corruption).
    @inline(__always)
    static func kind(_ key: UnsafeRawBufferPointer) -> Kind? { Kind(rawValue: UInt8(truncatingIfNeeded: trailer(key))) }

    /// Orders internal keys: user key ascending, then sequence descending.
    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let byUser = compareBytes(userKey(a), userKey(b))
        if byUser != 0 { return byUser }
        let ta = trailer(a), tb = trailer(b)
        return ta == tb ? 0 : (ta > tb ? -1 : 1)
    }
}

/// How a row's key is laid out as a user key inside its partition:
///
///     varint(partitionKey.count) ‖ partitionKey ‖ sortKey
///
/// So rows group by partition key and, within it, sort bytewise by sort key.
/// The *prefix* of a user key (what the prefix bloom filter holds, and what a
/// scan is confined to) is `varint(count) ‖ partitionKey`.
enum RowKeyCoding {
    /// Appends the encoded user key.
    static func append(partitionKey: UnsafeRawBufferPointer, sortKey: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        buffer.appendLengthPrefixed(partitionKey)
        buffer.append(contentsOf: sortKey)
    }

    /// The length of the prefix (`varint ‖ partitionKey`) of an encoded user key,
    /// or `nil` if the key is malformed.
    static func prefixLength(_ userKey: UnsafeRawBufferPointer) -> Int? {
        var cursor = ByteCursor(userKey)
        guard let count = cursor.readLength(), cursor.remaining >= count else { return nil }
        return cursor.offset + count
    }
}
