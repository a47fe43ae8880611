/// A cache-local bloom filter over byte strings (whole user keys, or
/// user-key prefixes): all probes of a key fall in one 64-byte cache line, so
/// a lookup costs one cache miss (RocksDB's `FastLocalBloom`).
///
/// Stored form (the payload of a filter block):
///
///     +------------------------------------------+-------------------+
///     | lines: n × 64 bytes (n >= 1)             | probe count k: u8 |
///     +------------------------------------------+-------------------+
///
/// Each key is hashed once with ``BloomHash/hash(_:)`` (64 bits h). The line
/// is `(low32(h) × n) >> 32`; probe i sets bit `g_i >> 23` (0…511) of that
/// line, where `g_0 = high32(h)` and `g_{i+1} = g_i × 0x9E3779B9 (mod 2^32)`.
/// Bits are numbered little-endian within bytes. With b bits per key and
/// k = round(b·ln 2) the false-positive rate is about 1% at b = 10.
struct BloomFilter: Sendable {
    /// The lines, then the probe count byte.
    private let stored: [UInt8]
    /// Number of probes per key. A value outside 1…``maxProbeCount`` (a
    /// future encoding) makes the filter match everything, as LevelDB does.
    let probeCount: Int
    /// Bytes held in memory.
    var byteCount: Int { stored.count }
    /// Number of 64-byte lines.
    private let lineCount: Int

    /// The most probes a writer uses.
    static let maxProbeCount = 30
    /// Bytes per line.
    static let lineBytes = 64

    /// Number of bits in the filter.
    var bitCount: Int { lineCount * BloomFilter.lineBytes * 8 }

    /// Builds the stored filter of `hashes` with `bitsPerKey` bits per key.
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        let bitsPerKey = Swift.max(1, bitsPerKey)
        let probes = Swift.min(maxProbeCount, Swift.max(1, Int((Double(bitsPerKey) * 0.69).rounded())))
        let lines = Swift.max(1, (hashes.count * bitsPerKey + 511) / 512)
        var bytes = [UInt8](repeating: 0, count: lines * lineBytes + 1)
        bytes.withUnsafeMutableBufferPointer { array in
            for hash in hashes {
                let line = Int((UInt64(UInt32(truncatingIfNeeded: hash)) &* UInt64(lines)) >> 32) * lineBytes
                var g = UInt32(truncatingIfNeeded: hash >> 32)
                for _ in 0..<probes {
                    let bit = Int(g >> 23)
                    array[line + (bit >> 3)] |= UInt8(1) << UInt8(bit & 7)
                    g = g &* 0x9E37_79B9
                }
            }
        }
        bytes[lines * lineBytes] = UInt8(probes)
        return bytes
    }

    /// Decodes a stored filter, or `nil` if its size is not whole lines plus one byte.
    init?(stored: UnsafeRawBufferPointer) {
        guard stored.count >= BloomFilter.lineBytes + 1, (stored.count - 1) % BloomFilter.lineBytes == 0 else { return nil }
        self.stored = Array(stored)
        lineCount = (stored.count - 1) / BloomFilter.lineBytes
        probeCount = Int(stored[stored.count - 1])
    }

    /// Whether the key with `hash` may be in the set (false: certainly not).
    func mayContain(hash: UInt64) -> Bool {
        guard probeCount >= 1, probeCount <= BloomFilter.maxProbeCount else { return true }
        let line = Int((UInt64(UInt32(truncatingIfNeeded: hash)) &* UInt64(lineCount)) >> 32) * BloomFilter.lineBytes
        var g = UInt32(truncatingIfNeeded: hash >> 32)
        return stored.withUnsafeBufferPointer { array in
            for _ in 0..<probeCount {
                let bit = Int(g >> 23)
                if array[line + (bit >> 3)] & (UInt8(1) << UInt8(bit & 7)) == 0 { return false }
                g = g &* 0x9E37_79B9
            }
            return true
        }
    }

    /// Whether `key` may be in the set.
    func mayContain(_ key: UnsafeRawBufferPointer) -> Bool { mayContain(hash: BloomHash.hash(key)) }
}

/// The 64-bit hash of bloom filters: XXH64's short-input path (fixed seed).
/// Stable forever: it is part of the file format.
enum BloomHash {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    /// The hash of `bytes`.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var h = p5 &+ UInt64(count)
        var i = 0
        while count - i >= 8 {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h ^= rotl(word &* p2, 31) &* p1
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if count - i >= 4 {
            let word = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            h ^= word &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < count {
            h ^= UInt64(bytes[i]) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        h ^= h >> 32
        return h
    }

    /// The hash of an array of bytes.
    static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { hash($0) } }
}
