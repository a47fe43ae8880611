/// The set of acknowledged sequence numbers of a queue, kept compact: a
/// low-water mark (every sequence below it is acked) plus sorted, disjoint,
/// non-adjacent ranges above it.
///
/// Acks arrive nearly in order, so the ranges stay few: at most one per gap
/// left by an in-flight or redelivered message.
struct AckedSequences: Equatable {
    /// Every sequence `< lowWater` is acked; `lowWater` itself is not.
    private(set) var lowWater: UInt64
    /// Acked ranges above `lowWater`, sorted; each starts after a gap.
    private(set) var ranges: [Range<UInt64>]

    init(lowWater: UInt64 = 1, ranges: [Range<UInt64>] = []) {
        self.lowWater = lowWater
        self.ranges = []
        for range in ranges { insert(range) }
    }

    /// Whether `sequence` is acked.
    /// - Complexity: O(log r) for r ranges.
    func contains(_ sequence: UInt64) -> Bool {
        if sequence < lowWater { return true }
        let index = firstRange(endingAfter: sequence)
        return index < ranges.count && ranges[index].contains(sequence)
    }

    /// Whether every sequence of `range` is acked.
    func contains(_ range: ClosedRange<UInt64>) -> Bool {
        let low = max(range.lowerBound, lowWater)
        if low > range.upperBound { return true }
        let index = firstRange(endingAfter: low)
        return index < ranges.count && ranges[index].lowerBound <= low && ranges[index].upperBound > range.upperBound
    }

    /// The largest acked sequence plus one (the low-water mark if no range).
    var upperBound: UInt64 { ranges.last?.upperBound ?? lowWater }

    /// Marks one sequence acked.
    mutating func insert(_ sequence: UInt64) {
        insert(sequence..<(sequence &+ 1))
    }

    /// Marks a range acked.
    /// - Complexity: O(r) in the worst case (array insertion); O(log r) when appending.
    mutating func insert(_ range: Range<UInt64>) {
        var range = range
        if range.lowerBound < lowWater { range = lowWater..<max(lowWater, range.upperBound) }
        guard !range.isEmpty else { return }
        // Ranges that touch or overlap `range` are merged into it.
        var first = firstRange(endingAfter: range.lowerBound == 0 ? 0 : range.lowerBound - 1)
        if first > 0 && ranges[first - 1].upperBound >= range.lowerBound { first -= 1 }
        var last = first
        while last < ranges.count && ranges[last].lowerBound <= range.upperBound {
            range = min(range.lowerBound, ranges[last].lowerBound)..<max(range.upperBound, ranges[last].upperBound)
            last += 1
        }
        ranges.replaceSubrange(first..<last, with: [range])
        if ranges[0].lowerBound <= lowWater {
            lowWater = max(lowWater, ranges[0].upperBound)
            ranges.removeFirst()
        }
    }

    /// Index of the first range whose upper bound is > `sequence`.
    private func firstRange(endingAfter sequence: UInt64) -> Int {
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound <= sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    // MARK: Encoding

    /// Appends `rangeCount (start-delta, length)*` with starts delta-encoded from `base`.
    static func encodeRanges(_ ranges: [Range<UInt64>], from base: UInt64, into bytes: inout [UInt8]) {
        bytes.appendVarint(UInt64(ranges.count))
        var previous = base
        for range in ranges {
            precondition(range.lowerBound >= previous, "ranges must be sorted and start at or after the base")
            bytes.appendVarint(range.lowerBound - previous)
            bytes.appendVarint(UInt64(range.count))
            previous = range.upperBound
        }
    }

    /// Reads ranges written by ``encodeRanges(_:from:into:)``; nil if
    /// malformed or if a range reaches past ``QueueFormat/maxSequence``.
    static func decodeRanges(_ cursor: inout ByteCursor, from base: UInt64) -> [Range<UInt64>]? {
        guard let count = cursor.readLength(limit: 1 << 26) else { return nil }
        var ranges: [Range<UInt64>] = []
        ranges.reserveCapacity(min(count, 1 << 16))
        var previous = base
        for _ in 0..<count {
            guard let delta = cursor.readVarint(), let length = cursor.readVarint() else { return nil }
            let (start, overflow1) = previous.addingReportingOverflow(delta)
            let (end, overflow2) = start.addingReportingOverflow(length)
            guard !overflow1, !overflow2, end <= QueueFormat.maxSequence else { return nil }
            ranges.append(start..<end)
            previous = end
        }
        return ranges
    }

    /// The snapshot record of the consumer state file.
    func encodedSnapshot() -> [UInt8] {
        var bytes: [UInt8] = [QueueFormat.Kind.consumerSnapshot.rawValue]
        bytes.append(contentsOf: QueueFormat.consumerMagic)
        bytes.appendFixed16(QueueFormat.version)
        bytes.appendVarint(lowWater)
        Self.encodeRanges(ranges, from: lowWater, into: &bytes)
        return bytes
    }

    /// An ack delta record: sorted, disjoint ranges.
    static func encodedDelta(_ ranges: [Range<UInt64>]) -> [UInt8] {
        var bytes: [UInt8] = [QueueFormat.Kind.ackDelta.rawValue]
        encodeRanges(ranges, from: 0, into: &bytes)
        return bytes
    }

    /// Applies one record of the consumer state file (snapshot first, then deltas).
    static func apply(_ record: UnsafeRawBufferPointer, to state: inout AckedSequences?, file: String, offset: Int64) throws {
        var cursor = ByteCursor(record)
        switch cursor.readByte() {
        case QueueFormat.Kind.consumerSnapshot.rawValue:
            guard state == nil else {
                throw StoreError.corruption("a second consumer snapshot", file: file, offset: offset)
            }
            guard let magic = cursor.readBytes(4), Array(magic) == QueueFormat.consumerMagic,
                  let version = cursor.readFixed16() else {
                throw StoreError.corruption("bad consumer snapshot header", file: file, offset: offset)
            }
            guard version == QueueFormat.version else {
                throw StoreError(.unsupportedFormat, "consumer state format version \(version)", file: file, offset: offset)
            }
            guard let lowWater = cursor.readVarint(), lowWater >= 1, lowWater <= QueueFormat.maxSequence,
                  let ranges = decodeRanges(&cursor, from: lowWater), cursor.isAtEnd else {
                throw StoreError.corruption("bad consumer snapshot", file: file, offset: offset)
            }
            state = AckedSequences(lowWater: lowWater, ranges: ranges)
        case QueueFormat.Kind.ackDelta.rawValue:
            guard state != nil else {
                throw StoreError.corruption("ack delta before the consumer snapshot", file: file, offset: offset)
            }
            guard let ranges = decodeRanges(&cursor, from: 0), cursor.isAtEnd else {
                throw StoreError.corruption("bad ack delta", file: file, offset: offset)
            }
            for range in ranges { state!.insert(range) }
        default:
            throw StoreError.corruption("unknown consumer state record", file: file, offset: offset)
        }
    }
}
