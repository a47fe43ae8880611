#if canImport(Glibc)
import Glibc
#endif

/// Byte encodings shared by every on-disk format: little-endian fixed-width
/// integers, LEB128 varints, big-endian integers (for keys that must sort
/// numerically), and length-prefixed byte strings.
///
/// Writers append to `[UInt8]`; readers use ``ByteCursor``, which checks every
/// bound and returns `nil` instead of trapping, so a decoder can turn bad bytes
/// into a ``StoreError/Code/corruption`` naming the file and offset.
extension Array where Element == UInt8 {
    @inlinable mutating func appendFixed16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
    }

    @inlinable mutating func appendFixed32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    @inlinable mutating func appendFixed64(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    @inlinable mutating func appendBigEndian64(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    @inlinable mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable mutating func appendVarint(_ value: Int) {
        appendVarint(UInt64(value))
    }

    /// Appends `varint(count)` then the bytes.
    @inlinable mutating func appendLengthPrefixed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }

    @inlinable mutating func appendLengthPrefixed(_ bytes: UnsafeRawBufferPointer) {
        appendVarint(UInt64(bytes.count))
        append(contentsOf: bytes)
    }
}

/// The number of bytes `appendVarint(value)` writes.
@inlinable func varintLength(_ value: UInt64) -> Int {
    var v = value
    var length = 1
    while v >= 0x80 { v >>= 7; length += 1 }
    return length
}

/// A bounds-checked forward reader over raw bytes.
///
/// Every `read*` advances and returns `nil` when the bytes run out or are
/// malformed (a varint longer than 10 bytes); `offset` then tells where.
/// The cursor does not own its memory: use it only inside the
/// `withUnsafeBytes` closure that produced the buffer.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    mutating func readByte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readFixed16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { offset += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    mutating func readFixed32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func readFixed64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func readBigEndian64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while shift <= 63 {
            guard offset < bytes.count else { return nil }
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }

    /// Reads a varint that must fit in `Int` and be at most `limit`.
    mutating func readLength(limit: Int = Int(Int32.max)) -> Int? {
        guard let value = readVarint(), value <= UInt64(limit) else { return nil }
        return Int(value)
    }

    /// Reads `count` bytes as a slice of the underlying buffer (no copy).
    mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// Reads `varint(count)` then that many bytes.
    mutating func readLengthPrefixed() -> UnsafeRawBufferPointer? {
        guard let count = readLength() else { return nil }
        return readBytes(count)
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, remaining >= count else { return false }
        offset += count
        return true
    }
}

/// Compares two byte strings lexicographically (memcmp, then length).
///
/// Words of 8 bytes are compared inline (loaded big-endian, so numeric order
/// is byte order); only a tail shorter than a word goes to `memcmp`. Keys here
/// are short (tens of bytes), where a `memcmp` call costs more than the work.
@inlinable func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = Swift.min(a.count, b.count)
    if common > 0, let pa = a.baseAddress, let pb = b.baseAddress {
        var offset = 0
        while offset + 8 <= common {
            let wa = UInt64(bigEndian: pa.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let wb = UInt64(bigEndian: pb.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            if wa != wb { return wa < wb ? -1 : 1 }
            offset += 8
        }
        if offset < common {
            let result = memcmp(pa + offset, pb + offset, common - offset)
            if result != 0 { return Int(result) }
        }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

@inlinable func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}
