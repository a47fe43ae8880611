/// The decoders the fuzzer drives, by the name `MSGSTORE_FUZZ_TARGET`
/// selects (Tools/fuzz.sh; docs/reliability.md, "Fuzzing"). Each takes one
/// input and traps on a finding: an error the contract does not allow, or
/// a decode that succeeded and is not self-consistent.
///
/// Compiled in debug builds only (or with `-DMSGSTORE_FUZZ`): the targets
/// reach the decoders' internal types through `@testable import`.
public enum FuzzTargets {
    /// A target: its name and what it does with one input.
    public typealias Target = (name: String, run: @Sendable ([UInt8]) -> Void)

    #if DEBUG || MSGSTORE_FUZZ
    /// Every target.
    public static let all: [Target] = [
        ("wal", LogTargets.wal),
        ("batch", LogTargets.batch),
        ("sstable", FileTargets.sstable),
        ("manifest", FileTargets.manifest),
        ("schema", FileTargets.schema),
        ("queue", QueueTargets.segment),
        ("queue-state", QueueTargets.consumerState),
        ("json", ServerTargets.json),
        ("date", ServerTargets.date),
        ("uuid", ServerTargets.uuid),
    ]
    #else
    /// None: a release build has no testable access to the decoders.
    public static let all: [Target] = []
    #endif
}
