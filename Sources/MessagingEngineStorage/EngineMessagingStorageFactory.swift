import Messaging
import Logging

/// Opens the engine-backed messaging storage on `options.dataDirectory`:
/// the one place `msgstore serve` asks for it.
public func makeEngineMessagingStorage(options: EngineStorageOptions, logger: Logger) async throws -> any MessagingStorage {
    try EngineMessagingStorage(options: options, logger: logger)
}
