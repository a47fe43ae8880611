#if canImport(Glibc)
import Glibc
#endif

/// The one error type the engine throws.
///
/// Every failure carries a ``Code`` that callers can switch on, a human sentence,
/// and — where it applies — the file and byte offset involved and the underlying
/// `errno`. Corruption is always reported with the file and offset so that an
/// operator can find the bad bytes (`msgstore inspect`/`verify` print the same).
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        init(_ raw: String) { self.raw = raw }
        /// The code's name, as in the error message (`notFound`, `unavailable`, …).
        public var description: String { raw }

        /// Bytes on disk do not match their checksum or their format.
        public static let corruption = Code("corruption")
        /// A system call failed (see ``StoreError/errno``).
        public static let io = Code("io")
        /// A file, table, index or row that was asked for does not exist.
        public static let notFound = Code("notFound")
        /// A configured bound (key size, value size, batch size, budget) was exceeded.
        public static let limitExceeded = Code("limitExceeded")
        /// The data directory is locked by another process (or another `Store` in this one).
        public static let locked = Code("locked")
        /// The caller passed something the engine cannot accept.
        public static let invalidArgument = Code("invalidArgument")
        /// The store (or queue) was closed.
        public static let closed = Code("closed")
        /// The declared schema disagrees with the one the data directory was created with.
        public static let schemaMismatch = Code("schemaMismatch")
        /// The store refuses writes for now: a write or `fsync` of the log or
        /// manifest failed (the store is read-only until restarted; nothing
        /// acknowledged is lost), or background work keeps failing (for example
        /// a full disk) while writes wait for it. Reads go on. The message says why.
        public static let unavailable = Code("unavailable")
        /// The file was written by a newer (or unknown) format version.
        public static let unsupportedFormat = Code("unsupportedFormat")
        /// A read inside ``Store/withMemoryOnlyReads(_:)`` needed a block that
        /// is not in memory: run it again where blocking is allowed.
        public static let wouldBlock = Code("wouldBlock")
    }

    /// The kind of failure.
    public var code: Code
    /// A human sentence saying what went wrong.
    public var message: String
    /// The file concerned, if any.
    public var file: String?
    /// The byte offset within ``file`` where the problem lies, if known.
    public var offset: Int64?
    /// The `errno` of a failed system call, if any.
    public var errno: Int32?

    /// Creates an error; prefer the static constructors.
    public init(_ code: Code, _ message: String, file: String? = nil, offset: Int64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
        self.errno = errno
    }

    /// A corruption error naming the file and the byte offset of the bad bytes.
    public static func corruption(_ message: String, file: String?, offset: Int64?) -> StoreError {
        StoreError(.corruption, message, file: file, offset: offset)
    }

    /// An I/O error from a failed system call.
    public static func io(_ operation: String, file: String?, errno: Int32) -> StoreError {
        StoreError(.io, "\(operation) failed: \(String(cString: strerror(errno)))", file: file, errno: errno)
    }

    /// A human-readable one-line description including file and offset.
    public var description: String {
        var text = "\(code): \(message)"
        if let file { text += " (file \(file)" + (offset.map { ", offset \($0)" } ?? "") + ")" }
        return text
    }
}
