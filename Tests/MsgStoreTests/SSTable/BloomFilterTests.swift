import Testing
@testable import MsgStore

@Suite struct BloomFilterTests {
    static func keys(_ count: Int, tag: UInt8) -> [[UInt8]] {
        (0..<count).map { i in
            var key: [UInt8] = [tag]
            key.appendBigEndian64(UInt64(i) &* 0x9E37_79B9)
            return key
        }
    }

    func falsePositiveRate(bitsPerKey: Int, count: Int = 10_000) -> Double {
        let present = Self.keys(count, tag: 1)
        let stored = BloomFilter.build(hashes: present.map { BloomHash.hash($0) }, bitsPerKey: bitsPerKey)
        let filter = stored.withUnsafeBytes { BloomFilter(stored: $0)! }
        for key in present { #expect(key.withUnsafeBytes { filter.mayContain($0) }) }
        let absent = Self.keys(count, tag: 2)
        let hits = absent.filter { key in key.withUnsafeBytes { filter.mayContain($0) } }.count
        return Double(hits) / Double(count)
    }

    @Test func noFalseNegativesAndRateNearTheoryAt10BitsPerKey() {
        let rate = falsePositiveRate(bitsPerKey: 10)
        // Theory: 0.6185^10 ≈ 0.82% for a classic filter; ~1% for a cache-local one.
        #expect(rate < 0.016, "false-positive rate \(rate)")
        #expect(rate > 0.002, "false-positive rate \(rate) suspiciously low")
    }

    @Test func rateFollowsBitsPerKey() {
        let r6 = falsePositiveRate(bitsPerKey: 6)
        let r16 = falsePositiveRate(bitsPerKey: 16)
        // Theory (classic): 5.6% at 6 bits/key, 0.046% at 16; cache-local a little more.
        #expect(r6 > 0.03 && r6 < 0.10, "6 bits/key: \(r6)")
        #expect(r16 < 0.003, "16 bits/key: \(r16)")
        #expect(r16 < r6)
    }

    @Test func emptyFilterContainsNothing() {
        let stored = BloomFilter.build(hashes: [], bitsPerKey: 10)
        let filter = stored.withUnsafeBytes { BloomFilter(stored: $0)! }
        #expect(![UInt8]([1, 2, 3]).withUnsafeBytes { filter.mayContain($0) })
    }

    @Test func unknownProbeCountMatchesEverything() {
        var stored = BloomFilter.build(hashes: [], bitsPerKey: 10)
        stored[stored.count - 1] = 200
        let filter = stored.withUnsafeBytes { BloomFilter(stored: $0)! }
        #expect([UInt8]([1, 2, 3]).withUnsafeBytes { filter.mayContain($0) })
    }

    @Test func malformedFilterSizeIsRejected() {
        #expect([UInt8](repeating: 0, count: 64).withUnsafeBytes { BloomFilter(stored: $0) } == nil)
        #expect([UInt8](repeating: 0, count: 66).withUnsafeBytes { BloomFilter(stored: $0) } == nil)
        #expect([UInt8](repeating: 0, count: 129).withUnsafeBytes { BloomFilter(stored: $0) } != nil)
    }

    @Test func hashIsStable() {
        // Part of the file format: these values must never change.
        #expect(BloomHash.hash([UInt8]()) == BloomHash.hash([UInt8]()))
        #expect(BloomHash.hash(Array("msgstore".utf8)) == Self.pinnedHashOfMsgstore)
        #expect(BloomHash.hash([1]) != BloomHash.hash([2]))
    }

    static let pinnedHashOfMsgstore: UInt64 = 13_652_637_133_283_569_247
}
