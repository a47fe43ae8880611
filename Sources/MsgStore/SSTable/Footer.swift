/// The last ``SSTableFormat/footerSize`` bytes of an SSTable:
///
///     +-------------------------------------------------+  offset
///     | metaindex handle ‖ index handle, zero padded    |  0 ..< 40
///     | format version: u32 LE                          |  40 ..< 44
///     | masked CRC32C of bytes 0 ..< 44: u32 LE         |  44 ..< 48
///     | magic: u64 LE ("msgSST01")                      |  48 ..< 56
///     +-------------------------------------------------+
struct Footer: Sendable, Equatable {
    /// The metaindex block (names → handles of filter, properties, dictionary blocks).
    var metaindex: BlockHandle
    /// The index block (last key of each data block → its handle).
    var index: BlockHandle
    /// The version the file was written with.
    var version: FormatVersion

    /// The 56 bytes of the footer.
    func encode() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(SSTableFormat.footerSize)
        metaindex.encode(to: &bytes)
        index.encode(to: &bytes)
        assert(bytes.count <= SSTableFormat.footerHandlesSize)
        bytes.append(contentsOf: repeatElement(0, count: SSTableFormat.footerHandlesSize - bytes.count))
        bytes.appendFixed32(version.rawValue)
        bytes.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        bytes.appendFixed64(SSTableFormat.magic)
        assert(bytes.count == SSTableFormat.footerSize)
        return bytes
    }

    /// Decodes and checks a footer read from `file` at `offset`.
    static func decode(_ bytes: UnsafeRawBufferPointer, file: String, offset: Int64) throws -> Footer {
        guard bytes.count == SSTableFormat.footerSize else {
            throw StoreError.corruption("SSTable footer is truncated (\(bytes.count) bytes)", file: file, offset: offset)
        }
        var cursor = ByteCursor(bytes, offset: SSTableFormat.footerHandlesSize)
        let rawVersion = cursor.readFixed32()!
        let storedCRC = cursor.readFixed32()!
        let magic = cursor.readFixed64()!
        guard magic == SSTableFormat.magic else {
            throw StoreError.corruption("not an SSTable: bad magic number", file: file, offset: offset + 48)
        }
        let actualCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<44]))
        guard CRC32C.unmask(storedCRC) == actualCRC else {
            throw StoreError.corruption("SSTable footer checksum mismatch", file: file, offset: offset)
        }
        guard let version = FormatVersion(rawValue: rawVersion) else {
            throw StoreError(.unsupportedFormat, "SSTable format version \(rawVersion) is not supported (latest \(FormatVersion.latest.rawValue))", file: file, offset: offset + 40)
        }
        var handles = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[..<SSTableFormat.footerHandlesSize]))
        guard let metaindex = BlockHandle.decode(&handles), let index = BlockHandle.decode(&handles) else {
            throw StoreError.corruption("SSTable footer has malformed block handles", file: file, offset: offset)
        }
        return Footer(metaindex: metaindex, index: index, version: version)
    }
}
