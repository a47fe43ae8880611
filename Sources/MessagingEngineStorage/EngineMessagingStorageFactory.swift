import Messaging
import Logging

/// Opens the engine-backed messaging storage on `options.dataDirectory`:
/// the one place `msgstore serve` asks for it.
public func makeEngineMessagingStorage(options: EngineStorageOptions, logger: Logger) async throws -> any MessagingStorage {
    try EngineMessagingStorage(options: options, logger: logger)
}

extension EngineMessagingStorage {
    /// Writes every memtable to disk and waits until background compaction is
    /// idle; returns a one-line summary of the levels. For `msgstore bench`
    /// (its `settle` phase) and tools; the server never needs it.
    public func settle() throws -> String {
        try store.settle()
    }
}
