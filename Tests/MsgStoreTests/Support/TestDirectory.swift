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
}

/// A deterministic random generator (SplitMix64) whose seed tests print: the
/// test helper's own generator.
typealias SeededGenerator = SplitMix

/// The seed for a randomized test: `MSGSTORE_SEED` if set, else random; printed.
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
