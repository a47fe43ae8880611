import Testing
@testable import MsgStore

@Suite struct CodingTests {
    @Test func varintRoundTripAtEveryBoundary() {
        var values: [UInt64] = [0, 1, 127, 128, 255, 256, 16383, 16384, .max, .max - 1]
        for shift in 0..<64 { values.append(1 << UInt64(shift)); values.append((1 << UInt64(shift)) - 1) }
        for value in values {
            var buffer: [UInt8] = []
            buffer.appendVarint(value)
            #expect(buffer.count == varintLength(value))
            buffer.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                #expect(cursor.readVarint() == value)
                #expect(cursor.isAtEnd)
            }
        }
    }

    @Test func varintLongerThanTenBytesIsRejected() {
        let bytes = [UInt8](repeating: 0x80, count: 11) + [0]
        bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            #expect(cursor.readVarint() == nil)
        }
    }

    @Test func truncatedVarintIsRejected() {
        [UInt8]([0x80, 0x80]).withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            #expect(cursor.readVarint() == nil)
        }
    }

    @Test func fixedWidthIntegersAreLittleEndian() {
        var buffer: [UInt8] = []
        buffer.appendFixed16(0x0102)
        buffer.appendFixed32(0x0304_0506)
        buffer.appendFixed64(0x0708_090A_0B0C_0D0E)
        buffer.appendBigEndian64(0x0102_0304_0506_0708)
        #expect(buffer == [0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08, 0x07,
                           1, 2, 3, 4, 5, 6, 7, 8])
        buffer.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            #expect(cursor.readFixed16() == 0x0102)
            #expect(cursor.readFixed32() == 0x0304_0506)
            #expect(cursor.readFixed64() == 0x0708_090A_0B0C_0D0E)
            #expect(cursor.readBigEndian64() == 0x0102_0304_0506_0708)
            #expect(cursor.readByte() == nil)
            #expect(cursor.readFixed32() == nil)
        }
    }

    @Test func cursorNeverReadsPastTheEnd() {
        var buffer: [UInt8] = []
        buffer.appendLengthPrefixed([1, 2, 3])
        buffer.removeLast()  // the length says 3, only 2 follow
        buffer.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            #expect(cursor.readLengthPrefixed() == nil)
            var second = ByteCursor(raw)
            #expect(second.readBytes(-1) == nil)
            #expect(second.skip(100) == false)
        }
    }

    @Test func internalKeysOrderByUserKeyThenNewestFirst() {
        let a1 = InternalKey.make(userKey: bytes("a"), sequence: 1, kind: .value)
        let a2 = InternalKey.make(userKey: bytes("a"), sequence: 2, kind: .value)
        let a2d = InternalKey.make(userKey: bytes("a"), sequence: 2, kind: .deletion)
        let b1 = InternalKey.make(userKey: bytes("b"), sequence: 1, kind: .value)
        let ab = InternalKey.make(userKey: bytes("ab"), sequence: 9, kind: .value)
        func cmp(_ x: [UInt8], _ y: [UInt8]) -> Int { x.withUnsafeBytes { p in y.withUnsafeBytes { q in InternalKey.compare(p, q) } } }
        #expect(cmp(a2, a1) < 0)
        #expect(cmp(a2, a2d) < 0)  // same sequence: value (kind 1) before deletion (kind 0)
        #expect(cmp(a1, ab) < 0)
        #expect(cmp(ab, b1) < 0)
        #expect(cmp(a1, a1) == 0)
    }

    @Test func rowKeysGroupByPartitionKey() {
        let key = RowKeyCoding.encode(RowKey(partitionKey: [9, 9], sortKey: [1, 2, 3]))
        #expect(key == [2, 9, 9, 1, 2, 3])
        key.withUnsafeBytes { raw in
            #expect(RowKeyCoding.prefixLength(raw) == 3)
            #expect(RowKeyCoding.decode(raw) == RowKey(partitionKey: [9, 9], sortKey: [1, 2, 3]))
        }
    }
}
