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
