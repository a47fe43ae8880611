/// When an acknowledged write reaches stable storage. One rule for the store's
/// write-ahead log (``StoreOptions/sync``) and for a durable queue
/// (``QueueOptions/sync``).
public enum SyncMode: String, Sendable, CaseIterable {
    /// `fdatasync` before a write returns (the default). Concurrent writers
    /// share one sync (group commit). Survives power loss.
    case always
    /// Written to the OS with `write(2)` before returning, never synced:
    /// survives a process crash, not an OS crash or power loss. For bulk loads
    /// and benchmarks.
    case none
}
