import Messaging
import MsgStore

/// Options for opening the engine-backed ``MessagingStorage``.
public struct EngineStorageOptions: Sendable {
    /// The data directory.
    public var dataDirectory: String
    /// The WAL sync policy.
    public var sync: SyncMode
    /// Size of a write-ahead log segment in bytes (nil: the engine's default, 32 MiB).
    public var walSegmentBytes: Int?
    /// Memory for all memtables together in bytes (nil: the engine's default, 64 MiB).
    public var memtableBudgetBytes: Int?

    /// Creates options.
    public init(dataDirectory: String, sync: SyncMode, walSegmentBytes: Int? = nil, memtableBudgetBytes: Int? = nil) {
        self.dataDirectory = dataDirectory
        self.sync = sync
        self.walSegmentBytes = walSegmentBytes
        self.memtableBudgetBytes = memtableBudgetBytes
    }
}
