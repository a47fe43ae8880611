#if DEBUG || MSGSTORE_FUZZ
@testable import MsgStore

/// What a decoder may do with bad bytes: throw a ``StoreError`` of code
/// `corruption` or `unsupportedFormat` naming the file and the offset.
/// Anything else (another code, another error type, a missing file or
/// offset) is a finding; so is a trap, a hang or a huge allocation, which
/// libFuzzer reports on its own.
enum Contract {
    /// Traps (a finding) unless `error` is an acceptable decoder error.
    /// - Parameter needsFile: false for decoders that see bytes, not a file (a batch in memory).
    static func check(_ error: any Error, _ what: @autoclosure () -> String, needsFile: Bool = true) {
        guard let error = error as? StoreError else {
            fatalError("\(what()): threw \(type(of: error)), not a StoreError: \(error)")
        }
        guard error.code == .corruption || error.code == .unsupportedFormat else {
            fatalError("\(what()): unexpected error code: \(error)")
        }
        if needsFile {
            guard error.file != nil, error.offset != nil else {
                fatalError("\(what()): error names no file and offset: \(error)")
            }
        }
    }

    /// Traps (a finding) with `message` unless `condition` holds: a decode
    /// that succeeded must be self-consistent.
    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("inconsistent decode: \(message())") }
    }

    /// Runs `body` on `input` and, if repairing its checksums changes it, on the repaired bytes too.
    static func withVariants(_ input: [UInt8], repair: ([UInt8]) -> [UInt8], _ body: ([UInt8]) -> Void) {
        body(input)
        let repaired = repair(input)
        if repaired != input { body(repaired) }
    }
}
#endif
