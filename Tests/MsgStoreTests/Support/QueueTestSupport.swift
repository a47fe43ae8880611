import Foundation
import Synchronization
@testable import MsgStore

/// Small options for tests: small segments so rolls happen.
func smallQueueOptions(maxAttempts: Int = 3, maxSegmentBytes: Int = 4096) -> QueueOptions {
    var options = QueueOptions()
    options.maxAttempts = maxAttempts
    options.maxSegmentBytes = maxSegmentBytes
    return options
}

/// Bytes of a string.
func queueBytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A string of bytes.
func queueText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Total size of the regular files under `path`.
func queueDiskUsage(_ path: String) -> Int64 {
    guard let names = try? FileManager.default.subpathsOfDirectory(atPath: path) else { return 0 }
    return names.reduce(Int64(0)) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
        return total + ((attributes?[.type] as? FileAttributeType) == .typeRegular ? Int64((attributes?[.size] as? NSNumber)?.int64Value ?? 0) : 0)
    }
}


/// Polls `condition` (every millisecond) until it holds or `seconds` pass; returns whether it held.
func queueEventually(seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1_000)))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// A flag set once from any task.
final class QueueTestFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// A counter shared between tasks.
final class QueueTestCounter: Sendable {
    private let count = Atomic<Int>(0)
    /// Adds one and returns the new value.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}
