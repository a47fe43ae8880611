// The on-disk format of a durable queue (docs/queue-format.md).
//
// A queue lives in one directory:
//
//     queues/NAME/
//       LOCK                 flock held by the process that has the queue open
//       000001.qlog          segments: framed records (docs/log-format.md)
//       000002.qlog          ... the highest number is the active segment
//       CONSUMER.qstate      consumer state: framed records, snapshot then deltas
//     queues/NAME.dlq/       the dead-letter queue: a queue of the same format
//
// Every record below sits inside the log framing of LogFormat.swift (32 KiB
// blocks, CRC32C per fragment). All fixed-width integers are little-endian.
//
// Segment header (the first record of every segment):
//     +--------+---------+-----------+---------------+-------------------+
//     | kind=0 | "MSGQ"  | version   | segment: u32  | firstSequence:u64 |
//     |  u8    | 4 bytes | u16       |               |                   |
//     +--------+---------+-----------+---------------+-------------------+
//      0        1         5           7               11                19
//
// Message record (every later record of a segment):
//     +--------+----------------+------------------+----------------+--------+
//     | kind=1 | sequence: u64  | enqueuedAt: i64  | attempts:varint| flags  |
//     |  u8    |                | µs since epoch   |                |  u8    |
//     +--------+----------------+------------------+----------------+--------+
//     [ if flags & 1 (dead letter):                                          ]
//     [   originalSequence: varint | reasonLength: varint | reason: UTF-8    ]
//     +------------------------------------------------------------------+
//     | payload: the rest of the record                                  |
//     +------------------------------------------------------------------+
//   Sequences are assigned 1, 2, 3, ... and strictly increase through the
//   segments. `attempts` counts deliveries that happened before the record
//   was written (0 for a fresh message; kept when a record is dead-lettered).
//
// Consumer state records (CONSUMER.qstate):
//     snapshot (first record):  kind=2 | "MSGC" | version u16 | lowWater varint
//                               | rangeCount varint | (start varint, length varint)*
//     ack delta (later ones):   kind=3 | rangeCount varint | (start varint, length varint)*
//     deliveries (later ones):  kind=4 | count varint | (sequence varint, attempt varint)*
//   Every sequence below lowWater is acked; the ranges [start, start+length)
//   add acked sequences above it. Range starts are delta-encoded from the end
//   of the previous range (from lowWater for the first) to stay small.
//   Delivery records count deliveries of unacked messages across restarts
//   (written without fdatasync; see ConsumerState.swift).

/// Constants and codecs of the queue's on-disk records.
enum QueueFormat {
    /// The reason the shared log reader gives for a tail of zeros: a
    /// preallocated segment's unused end (``QueueOptions/preallocateSegments``),
    /// which ends the data and is not a torn tail.
    static let zeroFilledTailReason = "zero-filled region"

    /// The format version written into segment headers and consumer snapshots.
    ///
    /// - 1: first version (segment header, message record, consumer snapshot + ack deltas).
    static let version: UInt16 = 1
    /// Magic bytes of a segment header.
    static let segmentMagic: [UInt8] = Array("MSGQ".utf8)
    /// Magic bytes of a consumer snapshot.
    static let consumerMagic: [UInt8] = Array("MSGC".utf8)
    // File names (segments, consumer state, lock): ``StoreFileNames``.
    /// Largest reason string stored with a dead letter.
    static let maxReasonBytes = 1024
    /// The largest sequence a segment header, a message record or the
    /// consumer state may hold (2^63 - 1): beyond any queue's life (one
    /// sequence per enqueue), and low enough that recovery's arithmetic on
    /// sequences (the next one, a range of acked ones and its length) never
    /// overflows. Decoders treat a larger one as corruption.
    static let maxSequence = UInt64(Int64.max)

    /// The first byte of every queue record.
    enum Kind: UInt8 {
        case segmentHeader = 0
        case message = 1
        case consumerSnapshot = 2
        case ackDelta = 3
        case deliveries = 4
    }

    /// Bit in a message record's flags: dead-letter fields follow.
    static let flagDeadLetter: UInt8 = 1
}

/// A segment's first record.
struct QueueSegmentHeader: Equatable {
    var segment: UInt32
    var firstSequence: UInt64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = [QueueFormat.Kind.segmentHeader.rawValue]
        bytes.append(contentsOf: QueueFormat.segmentMagic)
        bytes.appendFixed16(QueueFormat.version)
        bytes.appendFixed32(segment)
        bytes.appendFixed64(firstSequence)
        return bytes
    }

    /// Decodes a header; `file`/`offset` name the record in errors.
    static func decode(_ record: UnsafeRawBufferPointer, file: String, offset: Int64) throws -> QueueSegmentHeader {
        var cursor = ByteCursor(record)
        guard cursor.readByte() == QueueFormat.Kind.segmentHeader.rawValue,
              let magic = cursor.readBytes(4), Array(magic) == QueueFormat.segmentMagic else {
            throw StoreError.corruption("not a queue segment (bad header record)", file: file, offset: offset)
        }
        guard let version = cursor.readFixed16() else {
            throw StoreError.corruption("segment header cut short", file: file, offset: offset)
        }
        guard version == QueueFormat.version else {
            throw StoreError(.unsupportedFormat, "queue segment format version \(version), this build reads \(QueueFormat.version)",
                             file: file, offset: offset)
        }
        guard let segment = cursor.readFixed32(), let first = cursor.readFixed64() else {
            throw StoreError.corruption("segment header cut short", file: file, offset: offset)
        }
        guard first >= 1 else {
            throw StoreError.corruption("segment header's first sequence is 0 (sequences start at 1)", file: file, offset: offset)
        }
        guard first <= QueueFormat.maxSequence else {
            throw StoreError.corruption("segment header's first sequence \(first) is beyond 2^63 - 1", file: file, offset: offset)
        }
        return QueueSegmentHeader(segment: segment, firstSequence: first)
    }
}

/// Why and from where a record was moved to a dead-letter queue.
public struct DeadLetterInfo: Sendable, Equatable {
    /// The record's sequence number in the queue it came from.
    public var originalSequence: UInt64
    /// A human sentence: why it was dead-lettered.
    public var reason: String

    /// Creates dead-letter information.
    public init(originalSequence: UInt64, reason: String) {
        self.originalSequence = originalSequence
        self.reason = reason
    }
}

/// A message record as stored in a segment.
struct QueueRecord: Equatable {
    var sequence: UInt64
    var enqueuedAtMicros: Int64
    var attempts: UInt32
    var deadLetter: DeadLetterInfo?
    var payload: [UInt8]

    /// Appends the encoded record to `bytes`.
    func encode(into bytes: inout [UInt8]) {
        bytes.append(QueueFormat.Kind.message.rawValue)
        bytes.appendFixed64(sequence)
        bytes.appendFixed64(UInt64(bitPattern: enqueuedAtMicros))
        bytes.appendVarint(UInt64(attempts))
        bytes.append(deadLetter == nil ? 0 : QueueFormat.flagDeadLetter)
        if let deadLetter {
            bytes.appendVarint(deadLetter.originalSequence)
            bytes.appendLengthPrefixed(Array(deadLetter.reason.utf8.prefix(QueueFormat.maxReasonBytes)))
        }
        bytes.append(contentsOf: payload)
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 32)
        encode(into: &bytes)
        return bytes
    }

    /// Decodes a message record; `file`/`offset` name the record in errors.
    static func decode(_ record: UnsafeRawBufferPointer, file: String, offset: Int64) throws -> QueueRecord {
        var cursor = ByteCursor(record)
        guard let kind = cursor.readByte(), kind == QueueFormat.Kind.message.rawValue else {
            throw StoreError.corruption("expected a message record", file: file, offset: offset)
        }
        guard let sequence = cursor.readFixed64(), let time = cursor.readFixed64(),
              let attempts = cursor.readVarint(), attempts <= UInt64(UInt32.max),
              let flags = cursor.readByte() else {
            throw StoreError.corruption("message record cut short", file: file, offset: offset)
        }
        guard sequence <= QueueFormat.maxSequence else {
            throw StoreError.corruption("message sequence \(sequence) is beyond 2^63 - 1", file: file, offset: offset)
        }
        guard flags & ~QueueFormat.flagDeadLetter == 0 else {
            throw StoreError.corruption("unknown message flags \(flags)", file: file, offset: offset)
        }
        var deadLetter: DeadLetterInfo?
        if flags & QueueFormat.flagDeadLetter != 0 {
            guard let original = cursor.readVarint(),
                  let reasonLength = cursor.readLength(limit: QueueFormat.maxReasonBytes),
                  let reason = cursor.readBytes(reasonLength) else {
                throw StoreError.corruption("dead-letter fields cut short", file: file, offset: offset)
            }
            deadLetter = DeadLetterInfo(originalSequence: original, reason: String(decoding: reason, as: UTF8.self))
        }
        let payload = Array(cursor.readBytes(cursor.remaining)!)
        return QueueRecord(sequence: sequence, enqueuedAtMicros: Int64(bitPattern: time),
                           attempts: UInt32(attempts), deadLetter: deadLetter, payload: payload)
    }
}
