import Logging

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
