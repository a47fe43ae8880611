/// An immutable decoded block (see ``BlockBuilder`` for the layout), owning
/// its bytes. Shared by the block cache and any number of iterators.
///
/// Invariants, checked once by ``make(taking:count:file:fileOffset:)``:
/// the restart array lies inside the bytes, starts at 0, is strictly
/// increasing, every restart is below ``restartsOffset`` (the end of the
/// entries), and the entry at every restart shares no prefix with the one
/// before (a seek starts decoding there). The bytes are never written after construction, which is why the
/// type may be `Sendable` although it holds a raw pointer.
final class Block: @unchecked Sendable {
    /// The memory owned by this block; the block's bytes are a prefix of it.
    private let allocation: UnsafeMutableRawBufferPointer
    /// The block's bytes: entries, then the restart array and its count.
    let bytes: UnsafeRawBufferPointer
    /// Offset of the restart array = end of the entries.
    let restartsOffset: Int
    /// Number of restart points (at least 1).
    let restartCount: Int
    /// The file the block came from (for errors).
    let file: String
    /// Offset of the block's stored form in ``file`` (for errors).
    let fileOffset: Int64

    private init(allocation: UnsafeMutableRawBufferPointer, count: Int, restartsOffset: Int, restartCount: Int, file: String, fileOffset: Int64) {
        self.allocation = allocation
        self.bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(allocation)[..<count])
        self.restartsOffset = restartsOffset
        self.restartCount = restartCount
        self.file = file
        self.fileOffset = fileOffset
    }

    deinit { allocation.deallocate() }

    /// Validates the restart array and wraps the memory. Takes ownership of
    /// `allocation` (deallocating it if the bytes are malformed); its first
    /// `count` bytes are the block.
    static func make(taking allocation: UnsafeMutableRawBufferPointer, count: Int, file: String, fileOffset: Int64) throws -> Block {
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(allocation)[..<count])
        guard let (restartsOffset, restartCount) = validate(bytes) else {
            allocation.deallocate()
            throw StoreError.corruption("block has a malformed restart array", file: file, offset: fileOffset)
        }
        return Block(allocation: allocation, count: count, restartsOffset: restartsOffset, restartCount: restartCount, file: file, fileOffset: fileOffset)
    }

    /// Copies `bytes` into a new block.
    static func make(copying bytes: [UInt8], file: String, fileOffset: Int64) throws -> Block {
        let allocation = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 8)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { allocation.baseAddress!.copyMemory(from: base, byteCount: source.count) }
        }
        return try make(taking: allocation, count: bytes.count, file: file, fileOffset: fileOffset)
    }

    private static func validate(_ bytes: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard bytes.count >= 4 else { return nil }
        let count = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self)))
        guard count >= 1, count <= (bytes.count - 4) / 4 else { return nil }
        let restartsOffset = bytes.count - 4 - 4 * count
        let entries = UnsafeRawBufferPointer(rebasing: bytes[..<restartsOffset])
        var previous = -1
        for i in 0..<count {
            let restart = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: restartsOffset + 4 * i, as: UInt32.self)))
            if i == 0 {
                guard restart == 0 else { return nil }
            } else {
                guard restart > previous, restart < restartsOffset else { return nil }
                // A restart entry holds a whole key: its shared length (the first varint) is 0.
                var cursor = ByteCursor(entries, offset: restart)
                guard cursor.readVarint() == 0 else { return nil }
            }
            previous = restart
        }
        if restartsOffset == 0 && count != 1 { return nil }
        return (restartsOffset, count)
    }

    /// The offset of restart point `index`. REQUIRES: `index < restartCount`.
    @inline(__always)
    func restartPoint(_ index: Int) -> Int {
        Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: restartsOffset + 4 * index, as: UInt32.self)))
    }

    /// Bytes this block holds in memory (what the block cache charges).
    var memoryCharge: Int { allocation.count + 96 }
}
