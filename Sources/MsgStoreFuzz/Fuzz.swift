// libFuzzer entry point of every decoder target (Sources/MsgStoreFuzzTargets;
// Tools/fuzz.sh; docs/reliability.md, "Fuzzing"). Built with
//
//     swift build --product MsgStoreFuzz --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz
//
// and run as
//
//     MSGSTORE_FUZZ_TARGET=sstable SWIFT_BACKTRACE=enable=no .build-fuzz/debug/MsgStoreFuzz CORPUS_DIR
//
// libFuzzer provides `main`. A plain build (no fuzzer runtime) links an
// empty program. (One source file, not named main.swift: that is what links
// both ways.)
#if canImport(Glibc)
import Glibc
#endif
import MsgStoreFuzzTargets

/// The target this process fuzzes, read once from the environment (lazily:
/// a static, so that a plain build's empty program does not read it).
enum Selected {
    static let target: @Sendable ([UInt8]) -> Void = {
        let names = FuzzTargets.all.map(\.name).joined(separator: " ")
        func fail(_ line: String) -> Never {
            let text = line + "\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        guard let raw = getenv("MSGSTORE_FUZZ_TARGET") else { fail("MsgStoreFuzz: set MSGSTORE_FUZZ_TARGET to one of: \(names)") }
        let name = String(cString: raw)
        guard let target = FuzzTargets.all.first(where: { $0.name == name }) else {
            fail("MsgStoreFuzz: unknown target '\(name)'; the targets are: \(names)")
        }
        return target.run
    }()
}

/// libFuzzer calls this once per input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Selected.target(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
