import Testing
@testable import MsgStore

/// The compact acked set and the queue's record encodings.
@Suite struct QueueAckedSequencesTests {
    @Test func inOrderAcksOnlyMoveTheLowWaterMark() {
        var acked = AckedSequences()
        for sequence in UInt64(1)...100 { acked.insert(sequence) }
        #expect(acked.lowWater == 101 && acked.ranges.isEmpty)
    }

    @Test func outOfOrderAcksMergeIntoRanges() {
        var acked = AckedSequences()
        acked.insert(5); acked.insert(7); acked.insert(6)
        #expect(acked.lowWater == 1 && acked.ranges == [5..<8])
        acked.insert(1..<5)
        #expect(acked.lowWater == 8 && acked.ranges.isEmpty)
        #expect(acked.contains(7) && !acked.contains(8))
    }

    @Test func seededRandomAcksMatchASetModel() {
        var generator = SeededGenerator(seed: testSeed())
        var acked = AckedSequences()
        var model = Set<UInt64>()
        for _ in 0..<3000 {
            let sequence = 1 + generator.next() % 500
            acked.insert(sequence)
            model.insert(sequence)
        }
        for sequence in UInt64(1)...520 { #expect(acked.contains(sequence) == model.contains(sequence), "sequence \(sequence)") }
        for low in UInt64(1)...60 {
            let high = low + generator.next() % 30
            #expect(acked.contains(low...high) == (low...high).allSatisfy(model.contains))
        }
        // Round trip through the snapshot encoding.
        var decoded: AckedSequences?
        let snapshot = acked.encodedSnapshot()
        #expect(throws: Never.self) {
            try snapshot.withUnsafeBytes { try AckedSequences.apply($0, to: &decoded, file: "t", offset: 0) }
        }
        #expect(decoded == acked)
    }

    @Test func goldenMessageRecordBytes() {
        let record = QueueRecord(sequence: 0x0102, enqueuedAtMicros: 0x0A0B, attempts: 3, deadLetter: nil, payload: [0xEE])
        #expect(record.encoded() == [1, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0x0B, 0x0A, 0, 0, 0, 0, 0, 0, 3, 0, 0xEE])
        let header = QueueSegmentHeader(segment: 2, firstSequence: 9)
        #expect(header.encoded() == [0, 0x4D, 0x53, 0x47, 0x51, 1, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func deadLetterRecordRoundTrips() throws {
        let record = QueueRecord(sequence: 7, enqueuedAtMicros: -1, attempts: 5,
                                 deadLetter: DeadLetterInfo(originalSequence: 3, reason: "why"), payload: [1, 2, 3])
        let decoded = try record.encoded().withUnsafeBytes { try QueueRecord.decode($0, file: "f", offset: 0) }
        #expect(decoded == record)
    }

    @Test func decodersThrowInsteadOfTrappingOnRandomBytes() {
        var random = SeededGenerator(seed: testSeed())
        for round in 0..<3000 {
            var bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if !bytes.isEmpty { bytes[0] = UInt8(round % 5) }  // every record kind, and one unknown
            bytes.withUnsafeBytes { raw in
                _ = try? QueueRecord.decode(raw, file: "f", offset: 0)
                _ = try? QueueSegmentHeader.decode(raw, file: "f", offset: 0)
                var state: AckedSequences? = round % 2 == 0 ? nil : AckedSequences()
                _ = try? AckedSequences.apply(raw, to: &state, file: "f", offset: 0)
            }
        }
    }

    @Test func truncatedRecordIsCorruption() {
        let bytes = QueueRecord(sequence: 7, enqueuedAtMicros: 1, attempts: 0, deadLetter: nil, payload: []).encoded()
        #expect(throws: StoreError.self) {
            try Array(bytes.prefix(5)).withUnsafeBytes { try QueueRecord.decode($0, file: "f", offset: 0) }
        }
    }
}
