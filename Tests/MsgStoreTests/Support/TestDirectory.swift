import Foundation
@testable import MsgStore
@testable import MsgStoreTestHelper

/// A fresh temporary directory, removed when the value is deinitialized.
final class TestDirectory: Sendable {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "msgstore-test-\(safe)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// The directory of a durable queue named `name` inside (as a store lays it out).
    func queue(_ name: String = "q") -> String { DurableQueue.directory(forQueue: name, inDataDirectory: path) }

    /// Removes the directory now (deinit does it otherwise). A `defer { dir.cleanUp() }`
    /// also keeps the directory alive until the end of the scope.
    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// A deterministic random generator (SplitMix64) whose seed tests print: the
/// test helper's own generator. Every randomized test of this target draws
/// from one, seeded by ``testSeed(_:)``.
typealias SeededGenerator = SplitMix

/// The seed for a randomized test: `MSGSTORE_SEED` if set (to replay a
/// failure), else random; printed at the start so that a failure can be
/// replayed with `MSGSTORE_SEED=… swift test --filter …`.
func testSeed(_ name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["MSGSTORE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    print("\(name): seed \(seed) (rerun with MSGSTORE_SEED=\(seed))")
    return seed
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Copies every file of `source` but `LOCK` into a new directory: what the
/// disk holds if the process is killed (`kill -9`) at this moment, since
/// every completed `pwrite` is in the page cache.
func crashImage(of source: String, into destination: TestDirectory) throws {
    let manager = FileManager.default
    for name in try manager.contentsOfDirectory(atPath: source) where name != "LOCK" {
        let data = try Data(contentsOf: URL(fileURLWithPath: source + "/" + name))
        try data.write(to: URL(fileURLWithPath: destination.file(name)))
    }
}
