import Foundation
import Testing

/// `msgstore serve` as a real process: HTTP round trips and graceful shutdown.
@Suite(.serialized) struct ServeTests {
    @Test func servesTheAPIAndExitsZeroOnSIGTERM() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data)
        #expect(server.stdoutLines.contains { $0.contains("msgstore data:") }, "prints where the data is")
        let client = HTTPClient(baseURL: server.baseURL)

        let (health, healthBody) = try await client.send("GET", "/health")
        #expect(health == 200 && healthBody["status"] as? String == "ok")
        let alice = try await client.newUser()
        let bob = try await client.newUser()
        let (sent, sentBody) = try await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "hi"])
        #expect(sent == 201 && sentBody["messageId"] is String)
        let group = try await client.newGroup(members: [alice, bob])
        let (queued, _) = try await client.send("POST", "/messages/group/\(group)", json: ["sender": alice, "content": "all"])
        #expect(queued == 202)
        let deadline = Date().addingTimeInterval(10)
        var inbox: [[String: Any]] = []
        while Date() < deadline {
            inbox = try await client.wholeInbox(bob)
            if inbox.count == 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(inbox.compactMap { $0["content"] as? String } == ["hi", "all"])
        let (missing, missingBody) = try await client.send("GET", "/nope")
        #expect(missing == 404 && missingBody["error"] as? String == "not_found")

        let started = Date()
        #expect(server.stop(signal: SIGTERM) == 0)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func sigtermDuringLoadAnswersInFlightRequestsAndExitsZero() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "memory"])
        let client = HTTPClient(baseURL: server.baseURL)
        let alice = try await client.newUser()
        let bob = try await client.newUser()
        let load = Task {
            await withTaskGroup(of: [Int].self) { tasks in
                for _ in 0..<8 {
                    tasks.addTask {
                        var statuses: [Int] = []
                        for _ in 0..<2000 {
                            guard let (status, _) = try? await client.send(
                                "POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "x"])
                            else { break }  // refused: the server stopped accepting
                            statuses.append(status)
                        }
                        return statuses
                    }
                }
                return await tasks.reduce(into: []) { $0 += $1 }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.stop(signal: SIGTERM) == 0)
        let statuses = await load.value
        #expect(!statuses.isEmpty)
        #expect(statuses.allSatisfy { $0 == 201 }, "every answered request succeeded")
    }

    @Test func exitsZeroOnSIGINT() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "memory", "--fanout-workers", "1"])
        let client = HTTPClient(baseURL: server.baseURL)
        _ = try await client.newUser()
        #expect(server.stop(signal: SIGINT) == 0)
    }

    /// `msgstore inspect` knows the messaging tables: after a server ran, the
    /// log shows ids as UUIDs, dates as ISO-8601 and content as text.
    @Test func inspectShowsMessagingRowsReadably() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data)
        let client = HTTPClient(baseURL: server.baseURL)
        let alice = try await client.newUser()
        let bob = try await client.newUser()
        let (sent, sentBody) = try await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "readable"])
        #expect(sent == 201)
        let date = try #require(sentBody["date"] as? String)
        #expect(server.stop(signal: SIGTERM) == 0)

        func inspect(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = ServerProcess.binaryURL
            process.arguments = ["inspect"] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "inspect \(arguments)")
            return String(decoding: output, as: UTF8.self)
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: data.path).filter { $0.hasSuffix(".log") }.sorted()
        let output = try logs.map { try inspect([data.appendingPathComponent($0).path, "--entries"]) }.joined()
        #expect(output.contains("put users \(alice)"))
        #expect(output.contains("put inbox \(bob) | \(date)"))
        #expect(output.contains("direct from \(alice): \"readable\""))
        let directory = try inspect([data.path])
        #expect(directory.contains("inbox"))
    }

    @Test func rejectsBadOptions() throws {
        let process = Process()
        process.executableURL = ServerProcess.binaryURL
        process.arguments = ["serve", "--sync", "sometimes"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
    }
}
