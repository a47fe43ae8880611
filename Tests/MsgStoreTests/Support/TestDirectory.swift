import Foundation
@testable import MsgStore

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

/// A deterministic random generator (SplitMix64) whose seed tests print.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for a randomized test: `MSGSTORE_SEED` if set, else random; printed.
func testSeed(_ name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["MSGSTORE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    print("\(name): seed \(seed) (rerun with MSGSTORE_SEED=\(seed))")
    return seed
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
