/// Where a block lies in a file: its offset and the size of its payload
/// (the ``SSTableFormat/blockTrailerSize``-byte trailer follows the payload).
///
/// Encoded as `varint(offset) ‖ varint(size)`.
struct BlockHandle: Sendable, Equatable, Hashable {
    /// Offset of the payload's first byte.
    var offset: UInt64
    /// Bytes of payload, excluding the trailer.
    var size: UInt64

    /// The longest encoding: two 10-byte varints.
    static let maxEncodedSize = 20

    /// Appends the encoding to `buffer`.
    func encode(to buffer: inout [UInt8]) {
        buffer.appendVarint(offset)
        buffer.appendVarint(size)
    }

    /// The encoding as bytes.
    var encoded: [UInt8] {
        var buffer: [UInt8] = []
        encode(to: &buffer)
        return buffer
    }

    /// Decodes a handle, or `nil` if the bytes are malformed.
    static func decode(_ cursor: inout ByteCursor) -> BlockHandle? {
        guard let offset = cursor.readVarint(), let size = cursor.readVarint() else { return nil }
        return BlockHandle(offset: offset, size: size)
    }

    /// Decodes a handle that must fill `bytes` exactly.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> BlockHandle? {
        var cursor = ByteCursor(bytes)
        guard let handle = decode(&cursor), cursor.isAtEnd else { return nil }
        return handle
    }

    /// Offset one past the block's trailer, if it does not overflow.
    var endOffset: UInt64? {
        let (withSize, o1) = offset.addingReportingOverflow(size)
        let (end, o2) = withSize.addingReportingOverflow(UInt64(SSTableFormat.blockTrailerSize))
        return (o1 || o2) ? nil : end
    }
}
