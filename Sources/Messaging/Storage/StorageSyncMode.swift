/// How the engine-backed storage should sync its write-ahead log.
public enum StorageSyncMode: String, Sendable, CaseIterable {
    /// fdatasync before acknowledging every write (group commit batches them).
    case always
    /// Never sync explicitly: fast, loses recent writes on a machine crash.
    case none
}
