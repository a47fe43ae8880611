import Testing
@testable import MsgStore

@Suite struct MemTableTests {
    /// Random rows over a few partition keys — half arriving in sort-key order
    /// per partition key (the hinted path), half at random — must come back
    /// complete and in internal-key order, and every key must be found.
    @Test func insertsWithAndWithoutHintsKeepTheListSorted() {
        var random = SeededGenerator(seed: testSeed())
        let list = SkipList()
        var keys: [[UInt8]] = []
        var next: [Int: UInt64] = [:]
        for sequence in 1...5000 {
            let partition = [UInt8](repeating: UInt8.random(in: 0..<20, using: &random), count: 16)
            let inOrder = Bool.random(using: &random)
            let sortValue: UInt64 = inOrder ? { next[Int(partition[0]), default: 0] += 1; return next[Int(partition[0])]! << 20 }()
                                            : UInt64.random(in: 0..<(1 << 40), using: &random)
            var userKey: [UInt8] = []
            partition.withUnsafeBytes { pk in
                withUnsafeBytes(of: sortValue.bigEndian) { sk in RowKeyCoding.append(partitionKey: pk, sortKey: sk, to: &userKey) }
            }
            let trailer = InternalKey.trailer(sequence: UInt64(sequence), kind: .value)
            userKey.withUnsafeBytes { key in
                list.insert(userKey: key, trailer: trailer, value: UnsafeRawBufferPointer(start: nil, count: 0),
                            prefixLength: RowKeyCoding.prefixLength(key))
            }
            keys.append(userKey + withUnsafeBytes(of: trailer.littleEndian) { Array($0) })
        }
        #expect(list.hintedInserts > 500, "the hinted path was exercised (\(list.hintedInserts))")
        var walked: [[UInt8]] = []
        var node = list.first
        while let current = node {
            walked.append(Array(SkipList.key(current)))
            node = SkipList.next(current, 0)
        }
        let sorted = keys.sorted { a, b in a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in InternalKey.compare(pa, pb) < 0 } } }
        #expect(walked == sorted)
        for key in keys.prefix(500) {
            key.withUnsafeBytes { raw in
                let found = list.seek(userKey: InternalKey.userKey(raw), trailer: InternalKey.trailer(raw))
                #expect(found.map { SkipList.key($0).elementsEqual(raw) } == true)
            }
        }
    }

    @Test func getSeesTheNewestVersionAtASnapshot() {
        let table = MemTable(firstLogNumber: 1)
        let key = RowKeyCoding.encode(RowKey(partitionKey: [1], sortKey: [2]))
        key.withUnsafeBytes { raw in
            table.add(userKey: raw, sequence: 5, kind: .value, value: UnsafeRawBufferPointer(start: nil, count: 0))
            [UInt8]([7]).withUnsafeBytes { table.add(userKey: raw, sequence: 9, kind: .value, value: $0) }
            table.add(userKey: raw, sequence: 12, kind: .deletion, value: UnsafeRawBufferPointer(start: nil, count: 0))
            #expect(table.get(userKey: raw, snapshot: 4) == .absent)
            #expect(table.get(userKey: raw, snapshot: 5) == .found([]))
            #expect(table.get(userKey: raw, snapshot: 11) == .found([7]))
            #expect(table.get(userKey: raw, snapshot: 12) == .deleted)
        }
    }
}
