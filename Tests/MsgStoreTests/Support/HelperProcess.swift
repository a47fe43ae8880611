import Foundation

/// Runs `MsgStoreTestHelper` (built next to the test bundle) and collects its stdout lines.
final class HelperProcess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var buffer = Data()

    /// The directory holding the package's built products (where the test bundle runs from).
    static var productsDirectory: URL {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent()
    }

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let helper = Self.productsDirectory.appendingPathComponent("MsgStoreTestHelper")
        guard FileManager.default.isExecutableFile(atPath: helper.path) else {
            throw NSError(domain: "HelperProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "helper not built at \(helper.path)"])
        }
        process.executableURL = helper
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.buffer.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    /// Lines printed so far.
    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits until `predicate` holds for the lines printed, or `seconds` pass.
    func wait(seconds: Double, until predicate: ([String]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(lines) { return true }
            if !process.isRunning { return predicate(lines) }
            usleep(5_000)
        }
        return false
    }

    /// Waits up to `seconds` for the process to exit by itself; drains the
    /// pipe. Returns the signal that ended it (nil: it exited, or still runs).
    func waitForDeath(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock()
        buffer.append(rest)
        lock.unlock()
        return process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
    }

    /// SIGKILL, then wait for the exit and drain the pipe.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock()
        buffer.append(rest)
        lock.unlock()
    }
}
