import Logging

/// How the engine-backed storage should sync its write-ahead log.
public enum StorageSyncMode: String, Sendable, CaseIterable {
    /// fdatasync before acknowledging every write (group commit batches them).
    case always
    /// Never sync explicitly: fast, loses recent writes on a machine crash.
    case none
}

/// Options for opening the engine-backed ``MessagingStorage``.
public struct EngineStorageOptions: Sendable {
    /// The data directory.
    public var dataDirectory: String
    /// The WAL sync policy.
    public var sync: StorageSyncMode

    /// Creates options.
    public init(dataDirectory: String, sync: StorageSyncMode) {
        self.dataDirectory = dataDirectory
        self.sync = sync
    }
}

/// Opens the engine-backed messaging storage on `options.dataDirectory`.
///
/// - Returns: nil while the engine-backed implementation does not exist yet;
///   `msgstore serve` then falls back to ``InMemoryMessagingStorage`` and logs it.
///
/// TODO(lead): return the engine-backed `MessagingStorage` (MsgStore) here.
/// This is the only place `serve` asks for it.
public func makeEngineMessagingStorage(options: EngineStorageOptions, logger: Logger) async throws -> (any MessagingStorage)? {
    nil
}
