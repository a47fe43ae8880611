import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `serve` configured from the environment (`MSGSTORE_*`), the start-up
/// configuration line, the JSON log and API keys, on the real binary.
@Suite(.serialized) struct ConfigurationTests {
    @Test func optionsComeFromTheEnvironmentAndTheCommandLineWins() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let log = data.appendingPathComponent("stderr.log")
        let keys = data.appendingPathComponent("keys")
        try "app 0123456789abcdef0123\n".write(to: keys, atomically: true, encoding: .utf8)
        let server = try ServerProcess(
            dataDirectory: data, arguments: ["--max-content-bytes", "20"],
            environment: [
                "MSGSTORE_STORAGE": "memory", "MSGSTORE_MAX_CONTENT_BYTES": "5", "MSGSTORE_LOG_FORMAT": "json",
                "MSGSTORE_API_KEYS": keys.path, "MSGSTORE_NO_REQUEST_LOG": "0",
            ],
            standardError: log, logsRequests: true)
        #expect(server.servesFromMemory, "MSGSTORE_STORAGE=memory")
        var client = HTTPClient(baseURL: server.baseURL)
        let (refused, refusedBody) = try await client.send("POST", "/users")
        #expect(refused == 401 && refusedBody["error"] as? String == "unauthorized", "MSGSTORE_API_KEYS")
        client.bearer = "0123456789abcdef0123"
        let alice = try await client.newUser()
        let bob = try await client.newUser()
        // The command line's 20 wins over the environment's 5.
        let (sent, _) = try await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": String(repeating: "x", count: 20)])
        #expect(sent == 201)
        let (tooLarge, _) = try await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": String(repeating: "x", count: 21)])
        #expect(tooLarge == 413)
        #expect(server.stop(signal: SIGTERM) == 0)

        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!objects.isEmpty && objects.count == lines.count, "MSGSTORE_LOG_FORMAT=json: every line is JSON: \(lines.prefix(3))")
        let configuration = try #require(objects.compactMap { $0["message"] as? String }.first { $0.hasPrefix("configuration:") })
        #expect(configuration.contains("storage=memory (environment)"))
        #expect(configuration.contains("max-content-bytes=20 (command line)"))
        #expect(configuration.contains("sync=always (default)"))
        #expect(configuration.contains("api-keys=\(keys.path) (environment)"))
        #expect(!configuration.contains("0123456789abcdef0123"), "no key in the log")
        // Request lines carry the request id and figures.
        let requests = objects.filter { $0["request_id"] != nil && $0["status"] != nil }
        #expect(requests.count >= 4)
        #expect(requests.contains { $0["status"] as? Int == 413 && $0["path"] as? String == "/messages/user/\(bob)" })
    }

    @Test func aBadValueFromTheEnvironmentStopsTheServerWithAClearMessage() throws {
        let process = Process()
        process.executableURL = ServerProcess.binaryURL
        process.arguments = ["serve", "--port", "0"]
        process.environment = ProcessInfo.processInfo.environment.merging(["MSGSTORE_LOG_LEVEL": "loud", "MSGSTORE_PROT": "1"]) { _, new in new }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(text.contains("--log-level must be one of"), "\(text)")
        #expect(text.contains("MSGSTORE_PROT is not an option of serve"), "a misspelt variable is reported: \(text)")
    }

    @Test func everyServeOptionIsNamedInTheHelpAndHasAVariable() throws {
        let process = Process()
        process.executableURL = ServerProcess.binaryURL
        process.arguments = ["serve", "--help"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let help = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(help.contains("MSGSTORE_SOME_OPTION"))
        // Each long option of the help starts the server from its variable too: spot-check a few through the configuration line.
        for option in ["--data", "--port", "--sync", "--log-format", "--api-keys", "--max-page-bytes", "--idle-timeout-seconds"] {
            #expect(help.contains(option), "\(option)")
        }
    }
}

/// `GET /metrics` on the real binary with the engine: the engine's figures are there and move.
@Suite(.serialized) struct EngineMetricsTests {
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    static func scrape(_ server: ServerProcess) async throws -> String {
        let (data, response) = try await URLSession.shared.data(from: server.baseURL.appendingPathComponent("metrics"))
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func engineFiguresAreExposedAndMove() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "always"])
        let client = HTTPClient(baseURL: server.baseURL)
        let before = Self.samples(try await Self.scrape(server))
        let alice = try await client.newUser()
        let bob = try await client.newUser()
        for index in 0..<20 {
            let (status, _) = try await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "m\(index)"])
            #expect(status == 201)
        }
        let text = try await Self.scrape(server)
        let after = Self.samples(text)
        for family in ["msgstore_engine_write_batches_total", "msgstore_engine_commit_groups_total", "msgstore_engine_log_syncs_total",
                       "msgstore_engine_flushes_total", "msgstore_engine_compactions_total", "msgstore_engine_level_bytes",
                       "msgstore_engine_write_amplification", "msgstore_engine_stall_microseconds_total", "msgstore_engine_memtable_bytes",
                       "msgstore_engine_block_cache_hits_total", "msgstore_engine_row_cache_misses_total", "msgstore_engine_open_table_files",
                       "msgstore_fanout_queue_depth"] {
            #expect(text.contains("# TYPE \(family) "), "\(family) missing")
        }
        let batches = (after["msgstore_engine_write_batches_total"] ?? 0) - (before["msgstore_engine_write_batches_total"] ?? 0)
        #expect(batches >= 22, "2 users + 20 sends are at least 22 batches: \(batches)")
        #expect((after["msgstore_engine_log_syncs_total"] ?? 0) > (before["msgstore_engine_log_syncs_total"] ?? 0), "--sync always syncs")
        #expect((after[#"msgstore_engine_memtable_bytes{state="active"}"#] ?? 0) > 0)
        #expect(server.stop(signal: SIGTERM) == 0)
    }
}

/// `msgstore stats URL` and the progress lines of long commands, on the real binary.
@Suite(.serialized) struct ToolOutputTests {
    /// Runs the binary with `arguments`; returns (status, stdout, stderr).
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = ServerProcess.binaryURL
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test func statsPrintsARunningServersMetricsAsTables() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let keys = data.appendingPathComponent("keys")
        try "ops 0123456789abcdef0123 read-only\napp abcdefabcdefabcdefab\n".write(to: keys, atomically: true, encoding: .utf8)
        let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--api-keys", keys.path])
        var client = HTTPClient(baseURL: server.baseURL)
        client.bearer = "abcdefabcdefabcdefab"
        let alice = try await client.newUser()
        for _ in 0..<3 {
            let (status, _) = try await client.send("POST", "/messages/user/\(alice)", json: ["sender": alice, "content": "x"])
            #expect(status == 201)
        }
        let url = server.baseURL.absoluteString
        let (refused, _, refusedErrors) = try Self.run(["stats", url])
        #expect(refused != 0 && refusedErrors.contains("wants an API key"), "\(refusedErrors)")
        let (status, text, errors) = try Self.run(["stats", url], environment: ["MSGSTORE_API_KEY": "0123456789abcdef0123"])
        #expect(status == 0, "\(errors)")
        #expect(text.contains("/messages/user/{recipient}") && text.contains("POST") && text.contains("201"), "\(text)")
        let row = text.split(separator: "\n").first { $0.contains("/messages/user/{recipient}") }.map(String.init) ?? ""
        #expect(row.split(separator: " ").contains("3"), "three sends counted: \(row)")
        #expect(text.contains("Group fan-out") && text.contains("Engine") && text.contains("log syncs"), "\(text)")
        let (bad, _, badErrors) = try Self.run(["stats", "not a url"])
        #expect(bad != 0 && badErrors.contains("is not an http"), "\(badErrors)")
        #expect(server.stop(signal: SIGTERM) == 0)
    }

    @Test func verifyShowsProgressOnATerminalOnly() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        do {
            let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine"])
            _ = try await HTTPClient(baseURL: server.baseURL).newUser()
            #expect(server.stop(signal: SIGTERM) == 0)
        }
        // Not a terminal: the report only.
        let (status, text, errors) = try Self.run(["verify", data.path])
        #expect(status == 0 && text.contains("OK:"))
        #expect(!errors.contains("verifying:") && !text.contains("\r"))
        // A terminal (script(1) gives the command a pseudo-terminal): the progress line, then the report.
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        script.arguments = ["-qec", "\(ServerProcess.binaryURL.path) verify \(data.path)", "/dev/null"]
        let output = Pipe()
        script.standardOutput = output
        script.standardInput = FileHandle.nullDevice
        try script.run()
        let terminal = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        #expect(script.terminationStatus == 0)
        #expect(terminal.contains("verifying: 0/"), "\(terminal.prefix(300))")
        #expect(terminal.contains("OK:"))
        // --quiet: none.
        let quiet = Process()
        quiet.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        quiet.arguments = ["-qec", "\(ServerProcess.binaryURL.path) verify --quiet \(data.path)", "/dev/null"]
        let quietOutput = Pipe()
        quiet.standardOutput = quietOutput
        quiet.standardInput = FileHandle.nullDevice
        try quiet.run()
        let quietText = String(decoding: quietOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        quiet.waitUntilExit()
        #expect(!quietText.contains("verifying:") && quietText.contains("OK:"))
    }
}
