import Foundation
@testable import MsgStore

/// A fresh temporary directory for one test, removed by `cleanUp()`.
struct QueueTestDirectory {
    let path: String

    init(_ name: String = "queue") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/msgstore-\(name)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The directory of a queue named `name` inside.
    func queue(_ name: String = "q") -> String { DurableQueue.directory(forQueue: name, inDataDirectory: path) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Small options for tests: small segments so rolls happen.
func smallQueueOptions(maxAttempts: Int = 3, segmentBytesMax: Int = 4096) -> QueueOptions {
    var options = QueueOptions()
    options.maxAttempts = maxAttempts
    options.segmentBytesMax = segmentBytesMax
    return options
}

/// Bytes of a string.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A string of bytes.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Total size of the regular files under `path`.
func diskUsage(_ path: String) -> Int64 {
    guard let names = try? FileManager.default.subpathsOfDirectory(atPath: path) else { return 0 }
    return names.reduce(Int64(0)) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
        return total + ((attributes?[.type] as? FileAttributeType) == .typeRegular ? Int64((attributes?[.size] as? NSNumber)?.int64Value ?? 0) : 0)
    }
}
