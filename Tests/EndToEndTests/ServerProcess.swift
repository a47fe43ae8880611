import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `msgstore` binary, started on a temporary data directory and a
/// free port (`--port 0`; the port is read from its "listening on" line).
final class ServerProcess: @unchecked Sendable {
    /// `.build/<triple>/debug/msgstore`: next to the test bundle (or `MSGSTORE_BINARY`,
    /// e.g. a release build for the volume pass).
    static var binaryURL: URL {
        if let path = ProcessInfo.processInfo.environment["MSGSTORE_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("msgstore")
    }

    let process = Process()
    let dataDirectory: URL
    private(set) var port = 0
    private(set) var stdoutLines: [String] = []
    private let output = Pipe()

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Starts `msgstore serve --data DIR --port 0 EXTRA...` and waits until it listens;
    /// with `descriptorLimit`, under that `RLIMIT_NOFILE` (soft and hard, set by `ulimit -n`
    /// in a shell that then `exec`s the server, so the process is the server itself).
    /// With `environment`, those variables are added to this process's; with
    /// `standardError`, the server's standard error goes to that file (else to the test's).
    init(dataDirectory: URL, arguments: [String] = [], descriptorLimit: Int? = nil, environment: [String: String] = [:],
         standardError: URL? = nil, logsRequests: Bool = false) throws {
        self.dataDirectory = dataDirectory
        guard FileManager.default.isExecutableFile(atPath: Self.binaryURL.path) else {
            throw ServerProcessError("msgstore binary not found at \(Self.binaryURL.path); run swift build first")
        }
        let serve = ["serve", "--data", dataDirectory.path, "--port", "0"] + (logsRequests ? [] : ["--no-request-log"]) + arguments
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", Self.binaryURL.path] + serve
        } else {
            process.executableURL = Self.binaryURL
            process.arguments = serve
        }
        process.standardOutput = output
        if let standardError {
            _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: standardError)
        } else {
            process.standardError = FileHandle.standardError
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        var buffer = Data()
        let handle = output.fileHandleForReading
        while port == 0 {
            guard Date() < deadline, process.isRunning else {
                process.terminate()
                throw ServerProcessError("msgstore did not start listening; output: \(stdoutLines)")
            }
            let chunk = handle.availableData
            if chunk.isEmpty { continue }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                stdoutLines.append(line)
                if let range = line.range(of: "listening on http://"),
                    let portText = line[range.upperBound...].split(separator: ":").last,
                    let value = Int(portText)
                {
                    port = value
                }
            }
        }
        // The data line follows the listening line.
        if !stdoutLines.contains(where: { $0.contains("msgstore data:") }), let more = String(data: handle.availableData, encoding: .utf8) {
            stdoutLines += more.split(separator: "\n").map(String.init)
        }
    }

    /// Whether the server said it serves from memory (no engine storage in this build).
    var servesFromMemory: Bool { stdoutLines.contains { $0.contains("msgstore data:") && $0.contains("in memory") } }

    /// Sends `signal` and waits up to `timeout` for the exit; returns the exit status (nil: still running).
    func stop(signal: Int32, timeout: TimeInterval = 10) -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct ServerProcessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A minimal JSON-over-HTTP client on URLSession.
struct HTTPClient: Sendable {
    let baseURL: URL
    let session: URLSession
    /// Sent as `Authorization: Bearer …` when set.
    var bearer: String?

    init(baseURL: URL) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.httpMaximumConnectionsPerHost = 16
        session = URLSession(configuration: configuration)
    }

    /// Sends a request; returns the status and the body parsed as a JSON object (empty if none).
    func send(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: path, relativeTo: baseURL)!)
        request.httpMethod = method
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (status, object)
    }

    func newUser() async throws -> String {
        let (status, body) = try await send("POST", "/users")
        guard status == 201, let id = body["userId"] as? String else { throw ServerProcessError("POST /users: \(status)") }
        return id
    }

    func newGroup(members: [String]) async throws -> String {
        let (status, body) = try await send("POST", "/groups")
        guard status == 201, let id = body["groupId"] as? String else { throw ServerProcessError("POST /groups: \(status)") }
        for member in members {
            let (added, _) = try await send("POST", "/groups/\(id)/members", json: ["userId": member])
            guard added == 204 else { throw ServerProcessError("add member: \(added)") }
        }
        return id
    }

    /// Every message of an inbox, page by page.
    func wholeInbox(_ user: String) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var cursor: String?
        while true {
            let query = "limit=1000" + (cursor.map { "&date=\($0)" } ?? "")
            let (status, body) = try await send("GET", "/messages/\(user)?\(query)")
            guard status == 200 else { throw ServerProcessError("GET inbox: \(status)") }
            all += body["messages"] as? [[String: Any]] ?? []
            guard let token = body["nextPageToken"] as? String else { return all }
            cursor = token
        }
    }
}

/// A deterministic random generator (SplitMix64) for this target's randomized
/// tests, seeded by ``testSeed(_:)``.
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

/// The seed for a randomized test: `MSGSTORE_SEED` if set (to replay a
/// failure), else random; printed at the start.
func testSeed(_ name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["MSGSTORE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    print("\(name): seed \(seed) (rerun with MSGSTORE_SEED=\(seed))")
    return seed
}
