/// The names of the files a store keeps, formatted and parsed here only.
///
///     <data directory>/
///       NNNNNN.log          log segments (write-ahead log)
///       NNNNNN.sst          SSTables
///       MANIFEST-NNNNNN     manifests (version edits)
///       CURRENT             names the live manifest
///       SCHEMA              the table catalog
///       LOCK                the directory lock
///       *.tmp               temporary files of atomic replacements
///       queues/NAME/        durable queues:
///         NNNNNN.qlog         queue segments
///         CONSUMER.qstate     consumer state
///         LOCK                the queue directory lock
///
/// Numbers are printed in decimal, zero-padded to at least six digits
/// (LevelDB's `%06llu`); larger numbers simply get longer. Parsing accepts
/// exactly what the engine has always accepted for each kind, so stores
/// written before this type existed open the same way.
enum StoreFileNames {
    /// The file naming the live manifest.
    static let current = "CURRENT"
    /// The table catalog.
    static let schema = "SCHEMA"
    /// The lock file of a data directory or of a queue directory.
    static let lock = "LOCK"
    /// The suffix of a temporary file written before an atomic rename.
    static let temporarySuffix = ".tmp"
    /// The subdirectory of a data directory holding the durable queues.
    static let queuesDirectory = "queues"
    /// The suffix of log segments.
    static let logSuffix = ".log"
    /// The suffix of SSTables.
    static let tableSuffix = ".sst"
    /// The prefix of manifests.
    static let manifestPrefix = "MANIFEST-"
    /// The suffix of queue segments.
    static let queueSegmentSuffix = ".qlog"
    /// The consumer state of a queue.
    static let queueConsumerState = "CONSUMER.qstate"

    // MARK: Formatting

    /// Log segment `number`: `000012.log`.
    static func log(_ number: UInt64) -> String { padded(number) + logSuffix }

    /// SSTable `number`: `000012.sst`.
    static func table(_ number: UInt64) -> String { padded(number) + tableSuffix }

    /// Manifest `number`: `MANIFEST-000012`.
    static func manifest(_ number: UInt64) -> String { manifestPrefix + padded(number) }

    /// Queue segment `number`: `000001.qlog`.
    static func queueSegment(_ number: UInt32) -> String { padded(UInt64(number)) + queueSegmentSuffix }

    /// The temporary file written before `path` is atomically replaced.
    static func temporary(for path: String) -> String { path + temporarySuffix }

    /// The directory of queue `name` in a data directory: `<data>/queues/<name>`.
    static func queueDirectory(_ name: String, inDataDirectory dataDirectory: String) -> String {
        joinPath(joinPath(dataDirectory, queuesDirectory), name)
    }

    // MARK: Parsing

    /// The number of a log segment name like `000012.log`, if it is one.
    static func logNumber(_ name: String) -> UInt64? {
        guard name.hasSuffix(logSuffix) else { return nil }
        return UInt64(name.dropLast(logSuffix.count))
    }

    /// The number of an SSTable name like `000012.sst`, if it is one.
    static func tableNumber(_ name: String) -> UInt64? {
        guard name.hasSuffix(tableSuffix) else { return nil }
        return UInt64(name.dropLast(tableSuffix.count))
    }

    /// The number of a manifest name like `MANIFEST-000012`, if it is one.
    static func manifestNumber(_ name: String) -> UInt64? {
        guard name.hasPrefix(manifestPrefix) else { return nil }
        return UInt64(name.dropFirst(manifestPrefix.count))
    }

    /// The number of a queue segment name like `000001.qlog`, if it is one
    /// (digits only before the suffix).
    static func queueSegmentNumber(_ name: String) -> UInt32? {
        guard name.hasSuffix(queueSegmentSuffix) else { return nil }
        let stem = name.dropLast(queueSegmentSuffix.count)
        guard !stem.isEmpty, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt32(stem)
    }

    /// Whether `name` is a temporary file left by an interrupted atomic replacement.
    static func isTemporary(_ name: String) -> Bool { name.hasSuffix(temporarySuffix) }

    /// The number of any numbered file of a data directory (SSTable,
    /// manifest, log segment), if `name` is one.
    static func anyNumber(_ name: String) -> UInt64? {
        tableNumber(name) ?? manifestNumber(name) ?? logNumber(name)
    }

    /// `number` in decimal, zero-padded to six digits.
    private static func padded(_ number: UInt64) -> String {
        let digits = String(number)
        return digits.count >= 6 ? digits : String(repeating: "0", count: 6 - digits.count) + digits
    }
}
