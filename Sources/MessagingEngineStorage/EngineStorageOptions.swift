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
    /// Threads of the read pool: reads that miss every cache (they would read a
    /// file) run there, never on the caller's (cooperative) thread. Default 8.
    public var readThreads: Int
    /// Where the files live (tests pass a slow or faulty one).
    public var fileSystem: any FileSystem
    /// SSTables kept open at most (nil: the engine's default, 500); `serve`
    /// sets it from its descriptor budget.
    public var maxOpenTableFiles: Int?

    /// Creates options.
    public init(
        dataDirectory: String, sync: SyncMode, walSegmentBytes: Int? = nil, memtableBudgetBytes: Int? = nil,
        readThreads: Int = 8, fileSystem: any FileSystem = PosixFileSystem(), maxOpenTableFiles: Int? = nil
    ) {
        precondition(readThreads >= 1)
        self.dataDirectory = dataDirectory
        self.sync = sync
        self.walSegmentBytes = walSegmentBytes
        self.memtableBudgetBytes = memtableBudgetBytes
        self.readThreads = readThreads
        self.fileSystem = fileSystem
        self.maxOpenTableFiles = maxOpenTableFiles
    }
}
