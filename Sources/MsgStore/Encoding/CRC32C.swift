import CCRC32C

/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
/// checksum of every on-disk record and block.
///
/// With the CPU's `crc32` instruction (x86-64 SSE4.2, the `CCRC32C` target)
/// where it exists — about 8 bytes a cycle — else software slicing-by-8
/// (about 1–2 GB/s). Both give the same values (tested against each other
/// and against the standard check value).
/// Stored checksums are *masked* (``mask(_:)``) like LevelDB's, so that a CRC
/// computed over bytes that themselves contain CRCs stays well distributed.
enum CRC32C {
    /// Eight 256-entry tables laid end to end (slicing-by-8).
    static let table: [UInt32] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][i] = crc
        }
        for i in 0..<256 {
            for t in 1..<8 {
                let previous = tables[t - 1][i]
                tables[t][i] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables.flatMap { $0 }
    }()

    /// Whether this CPU computes the CRC in hardware.
    static let isHardware = msgstore_crc32c_hardware_available() != 0

    /// The CRC-32C of `bytes`, continuing from `crc` (pass 0 to start).
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        if isHardware { return msgstore_crc32c_hardware(crc, bytes.baseAddress, bytes.count) }
        return softwareChecksum(bytes, continuing: crc)
    }

    /// The CRC-32C of `bytes` in software (slicing-by-8), continuing from `crc`.
    static func softwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var state = ~crc
        CRC32C.table.withUnsafeBufferPointer { table in
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian ^ UInt64(state)
                state = table[7 * 256 + Int(word & 0xFF)]
                    ^ table[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((word >> 16) & 0xFF)]
                    ^ table[4 * 256 + Int((word >> 24) & 0xFF)]
                    ^ table[3 * 256 + Int((word >> 32) & 0xFF)]
                    ^ table[2 * 256 + Int((word >> 40) & 0xFF)]
                    ^ table[1 * 256 + Int((word >> 48) & 0xFF)]
                    ^ table[0 * 256 + Int(word >> 56)]
                index += 8
            }
            while index < count {
                state = table[Int((state ^ UInt32(bytes[index])) & 0xFF)] ^ (state >> 8)
                index += 1
            }
        }
        return ~state
    }

    /// The CRC-32C of an array of bytes.
    static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    static let maskDelta: UInt32 = 0xA282_EAD8

    /// The stored form of a CRC: rotated and offset so that CRCs of data holding CRCs stay distinct.
    static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ maskDelta
    }

    /// Inverse of ``mask(_:)``.
    static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- maskDelta
        return (rotated >> 17) | (rotated << 15)
    }
}
