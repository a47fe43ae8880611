#if DEBUG || MSGSTORE_FUZZ
@testable import MsgStore

/// Rewrites the checksums of a fuzz input so that a mutation behind a CRC
/// reaches the decoder behind it: every target decodes its input as is, and
/// again repaired (when repairing changed a byte). Random mutations almost
/// never keep a CRC32C right; repaired, they exercise record, block and
/// entry decoding rather than only the checksum checks.
enum ChecksumRepair {
    /// Log framing (WAL, manifest, queue files; docs/log-format.md): walks
    /// the fragments as the reader does and rewrites each plausible
    /// fragment's CRC. Stops at the first fragment whose length cannot be right.
    static func logFile(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        var position = 0
        let blockSize = LogFormat.blockSize, headerSize = LogFormat.headerSize
        while position + headerSize <= bytes.count {
            let leftInBlock = blockSize - position % blockSize
            if leftInBlock < headerSize {
                position += leftInBlock
                continue
            }
            let length = Int(bytes[position + 4]) | Int(bytes[position + 5]) << 8
            let type = bytes[position + 6]
            guard length <= leftInBlock - headerSize, position + headerSize + length <= bytes.count else { break }
            if type == 0 && length == 0 && bytes[position..<(position + 4)].allSatisfy({ $0 == 0 }) {
                // Zero fill (a preallocated tail): leave it and go on after it.
                position += headerSize
                continue
            }
            let crc = bytes.withUnsafeBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(position + 6)..<(position + headerSize + length)]))
            }
            store32(CRC32C.mask(crc), into: &bytes, at: position)
            position += headerSize + length
        }
        return bytes
    }

    /// The `SCHEMA` file: a CRC32C of everything before its last 4 bytes.
    static func schemaFile(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 4 else { return bytes }
        var bytes = bytes
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<(bytes.count - 4)])) }
        store32(CRC32C.mask(crc), into: &bytes, at: bytes.count - 4)
        return bytes
    }

    /// An SSTable: the footer's magic and CRC, then the trailer CRC of the
    /// metaindex, index, every meta block and every data block their
    /// handles name (uncompressed metaindex and index blocks are parsed for
    /// the handles; compressed ones only get their own CRC).
    static func sstable(_ bytes: [UInt8]) -> [UInt8] {
        let footerSize = SSTableFormat.footerSize
        guard bytes.count >= footerSize else { return bytes }
        var bytes = bytes
        let footerStart = bytes.count - footerSize
        let dataEnd = UInt64(footerStart)
        store64(SSTableFormat.magic, into: &bytes, at: footerStart + 48)
        let footerCRC = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[footerStart..<(footerStart + 44)])) }
        store32(CRC32C.mask(footerCRC), into: &bytes, at: footerStart + 44)
        let handles: (BlockHandle, BlockHandle)? = bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: raw[footerStart..<(footerStart + SSTableFormat.footerHandlesSize)]))
            guard let metaindex = BlockHandle.decode(&cursor), let index = BlockHandle.decode(&cursor) else { return nil }
            return (metaindex, index)
        }
        guard let (metaindex, index) = handles else { return bytes }
        var repaired = Set<UInt64>()
        func repairBlock(_ handle: BlockHandle) -> [UInt8]? {
            guard let end = handle.endOffset, end <= dataEnd else { return nil }
            let offset = Int(handle.offset), size = Int(handle.size)
            if repaired.insert(handle.offset).inserted {
                let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size + 5)])) }
                store32(CRC32C.mask(crc), into: &bytes, at: offset + size + 5)
            }
            // The payload, if stored uncompressed (type 0).
            return bytes[offset + size] == 0 ? Array(bytes[offset..<(offset + size)]) : nil
        }
        func childHandles(in payload: [UInt8], internalKeys: Bool) -> [BlockHandle] {
            guard let block = try? Block.make(copying: payload, file: "", fileOffset: 0) else { return [] }
            var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: internalKeys)
            var found: [BlockHandle] = []
            do {
                try cursor.seekToFirst()
                while cursor.isValid {
                    if let handle = BlockHandle.decode(cursor.value) { found.append(handle) }
                    try cursor.next()
                }
            } catch {}
            return found
        }
        if let payload = repairBlock(metaindex) {
            for handle in childHandles(in: payload, internalKeys: false) { _ = repairBlock(handle) }
        }
        if let payload = repairBlock(index) {
            for handle in childHandles(in: payload, internalKeys: true) { _ = repairBlock(handle) }
        }
        return bytes
    }

    private static func store32(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    private static func store64(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
#endif
