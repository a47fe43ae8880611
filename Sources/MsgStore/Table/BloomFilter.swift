/// A bloom filter over byte strings (whole user keys, or user-key prefixes).
///
/// Stored form (the payload of a filter block):
///
///     +---------------------------------+-------------------+
///     | bit array (n bytes, n >= 8)     | probe count k: u8 |
///     +---------------------------------+-------------------+
///
/// Each key is hashed once with ``BloomHash/hash(_:)`` (64 bits); probe i sets
/// bit `fastrange32(h1 + i·δ)` over the n·8 bits, with δ a rotation of the hash
/// (Kirsch–Mitzenmacher double hashing). With b bits per key and
/// k = round(b·ln 2) the false-positive rate is about 0.6185^b (≈0.8% at 10).
struct BloomFilter: Sendable {
    /// The bit array.
    let bits: [UInt8]
    /// Number of probes per key. A value above ``probeCountMax`` (a future
    /// encoding) makes the filter match everything, as LevelDB does.
    let probeCount: Int

    /// The most probes a writer uses.
    static let probeCountMax = 30

    /// Number of bits in the array.
    var bitCount: Int { bits.count * 8 }

    /// Builds the filter of `hashes` with `bitsPerKey` bits per key.
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        let bitsPerKey = Swift.max(1, bitsPerKey)
        let probes = Swift.min(probeCountMax, Swift.max(1, Int((Double(bitsPerKey) * 0.69).rounded())))
        let byteCount = Swift.max(8, (hashes.count * bitsPerKey + 7) / 8)
        var bits = [UInt8](repeating: 0, count: byteCount + 1)
        let bitCount = UInt64(byteCount * 8)
        bits.withUnsafeMutableBufferPointer { array in
            for hash in hashes {
                var h = hash
                let delta = (hash >> 17) | (hash << 47) | 1
                for _ in 0..<probes {
                    let bit = Int(((h >> 32) &* bitCount) >> 32)
                    array[bit >> 3] |= UInt8(1) << UInt8(bit & 7)
                    h &+= delta
                }
            }
        }
        bits[byteCount] = UInt8(probes)
        return bits
    }

    /// Decodes a stored filter, or `nil` if it is too short.
    init?(stored: UnsafeRawBufferPointer) {
        guard stored.count >= 9 else { return nil }
        bits = Array(UnsafeRawBufferPointer(rebasing: stored[..<(stored.count - 1)]))
        probeCount = Int(stored[stored.count - 1])
    }

    /// Whether the key with `hash` may be in the set (false: certainly not).
    func mayContain(hash: UInt64) -> Bool {
        guard probeCount >= 1, probeCount <= BloomFilter.probeCountMax else { return true }
        let bitCount = UInt64(bits.count * 8)
        var h = hash
        let delta = (hash >> 17) | (hash << 47) | 1
        return bits.withUnsafeBufferPointer { array in
            for _ in 0..<probeCount {
                let bit = Int(((h >> 32) &* bitCount) >> 32)
                if array[bit >> 3] & (UInt8(1) << UInt8(bit & 7)) == 0 { return false }
                h &+= delta
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
