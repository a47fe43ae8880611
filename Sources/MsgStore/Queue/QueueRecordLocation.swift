/// Where a message record starts: its segment and the offset of its first fragment.
struct QueueRecordLocation: Sendable, Equatable {
    var segment: UInt32
    var offset: Int64

    /// Reads the one record starting at `offset` (its fragments, skipping block
    /// trailers), checking every fragment's checksum.
    static func readRecord(from file: any StorageFile, at offset: Int64) throws -> QueueRecord {
        var position = offset
        var record: [UInt8] = []
        var isFirst = true
        while true {
            let leftInBlock = Int64(LogFormat.blockSize) - position % Int64(LogFormat.blockSize)
            if leftInBlock < Int64(LogFormat.headerSize) {
                position += leftInBlock
                continue
            }
            let header = try file.read(count: LogFormat.headerSize, at: position)
            guard header.count == LogFormat.headerSize else {
                throw StoreError.corruption("record cut short", file: file.path, offset: position)
            }
            let stored = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
            let length = Int(header[4]) | Int(header[5]) << 8
            guard let type = LogFormat.FragmentType(rawValue: header[6]), type != .zero,
                  Int64(length) <= leftInBlock - Int64(LogFormat.headerSize),
                  isFirst == (type == .full || type == .first) else {
                throw StoreError.corruption("bad fragment header", file: file.path, offset: position)
            }
            let payload = try file.read(count: length, at: position + Int64(LogFormat.headerSize))
            var crc = CRC32C.checksum([header[6]])
            crc = CRC32C.checksum(payload, continuing: crc)
            guard payload.count == length, CRC32C.mask(crc) == stored else {
                throw StoreError.corruption("checksum mismatch", file: file.path, offset: position)
            }
            record.append(contentsOf: payload)
            position += Int64(LogFormat.headerSize + length)
            isFirst = false
            if type == .full || type == .last { break }
        }
        return try record.withUnsafeBytes { try QueueRecord.decode($0, file: file.path, offset: offset) }
    }
}
