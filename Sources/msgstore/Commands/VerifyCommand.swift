import ArgumentParser
import Foundation
import MsgStore

/// `msgstore verify PATH`: every checksum and invariant. Exit 0 sound, 1 problems, 2 usage.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every checksum and invariant of a data directory or file; exit 0 when sound, 1 when not, 2 on usage errors."
    )

    @Argument(help: "A data directory, NNNNNN.sst, NNNNNN.log, MANIFEST-NNNNNN or SCHEMA.")
    var path: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "No progress line (shown on a terminal only, on standard error).")
    var quiet = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write("error: no such file or directory: \(path)\n".data(using: .utf8)!)
            throw ExitCode(2)
        }
        let line = ProgressLine("verifying", enabled: !quiet && ProgressLine.standardErrorIsTerminal)
        let report = StoreVerifier.verify(path: path) { progress in
            line.update(done: progress.filesDone, total: progress.filesTotal,
                        detail: "files, \(formatBytes(progress.bytesDone)) of \(formatBytes(progress.bytesTotal)) \(progress.current)")
        }
        line.finish()
        if json {
            try printJSON(report)
        } else {
            for line in report.checked { print("checked: \(line)") }
            for note in report.notes { print("note: \(note)") }
            for problem in report.problems { print("PROBLEM: \(problem)") }
            print(report.isSound ? "OK: \(path) is sound" : "FAILED: \(report.problems.count) problem(s) in \(path)")
        }
        if !report.isSound { throw ExitCode(1) }
    }
}
