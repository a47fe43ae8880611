import Foundation
import Hummingbird
import Logging
import MsgStoreServer
import Synchronization
import Testing

/// `--log-format json` and request ids.
@Suite struct LoggingTests {
    /// Lines a ``JSONLogHandler`` wrote.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func objects() -> [[String: Any]] {
            all.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
    }

    static func logger(_ lines: Lines, level: Logger.Level = .info) -> Logger {
        Logger(label: "msgstore") { label in
            var handler = JSONLogHandler(label: label) { line in lines.lines.withLock { $0.append(line) } }
            handler.logLevel = level
            return handler
        }
    }

    @Test func everyRecordIsOneLineOfValidJSON() throws {
        let lines = Lines()
        var logger = Self.logger(lines)
        logger[metadataKey: "node"] = "a"
        logger.info("plain")
        logger.notice("quotes \" backslash \\ newline \n tab \t control \u{01} unicode é 🙂", metadata: [
            "count": .stringConvertible(42), "ratio": .stringConvertible(0.5), "list": .array(["x", .stringConvertible(1)]),
            "nested": .dictionary(["k": "v"]), "message": "collides",
        ])
        logger.debug("dropped below the level")
        #expect(lines.all.count == 2)
        #expect(lines.all.allSatisfy { $0.hasSuffix("}\n") && $0.dropLast().firstIndex(of: "\n") == nil })
        let objects = lines.objects()
        #expect(objects.count == 2)
        let first = try #require(objects.first)
        #expect(first["message"] as? String == "plain" && first["level"] as? String == "info" && first["label"] as? String == "msgstore")
        #expect(first["node"] as? String == "a")
        let time = try #require(first["time"] as? String)
        #expect(time.count == 27 && time.hasSuffix("Z"), "\(time)")  // 2026-11-30T01:02:03.456789Z
        let second = try #require(objects.last)
        #expect(second["message"] as? String == "quotes \" backslash \\ newline \n tab \t control \u{01} unicode é 🙂")
        #expect(second["count"] as? Int == 42)
        #expect(second["ratio"] as? Double == 0.5)
        #expect((second["list"] as? [Any])?.count == 2)
        #expect((second["nested"] as? [String: String]) == ["k": "v"])
        #expect(second["metadata.message"] as? String == "collides")
    }

    @Test func eachRequestGetsAnIdEchoedAndLogged() async throws {
        let lines = Lines()
        let server = TestServer(logsRequests: true, logger: Self.logger(lines))
        try await server.test { api in
            let own = try await api.request(.post, "/users", headers: [HTTPFields.Element.Name("X-Request-Id")!: "client-42.a_b"])
            #expect(own.headers[HTTPFields.Element.Name("X-Request-Id")!] == "client-42.a_b")
            // Unsafe ids (spaces, too long) are replaced by the server's own.
            for bad in ["has space", String(repeating: "x", count: 129), "quote\""] {
                let replaced = try await api.request(.get, "/health", headers: [HTTPFields.Element.Name("X-Request-Id")!: bad])
                let id = try #require(replaced.headers[HTTPFields.Element.Name("X-Request-Id")!])
                #expect(id != bad && !id.isEmpty)
            }
            // Errors carry one too.
            let missing = try await api.request(.get, "/nope")
            #expect(missing.headers[HTTPFields.Element.Name("X-Request-Id")!] != nil)
        }
        let requests = lines.objects().filter { $0["request_id"] != nil }
        #expect(requests.count == 5)
        let first = try #require(requests.first)
        #expect(first["request_id"] as? String == "client-42.a_b")
        #expect(first["method"] as? String == "POST" && first["path"] as? String == "/users" && first["status"] as? Int == 201)
        #expect((first["duration_us"] as? Int).map { $0 >= 0 } == true)
        #expect(requests.last?["status"] as? Int == 404)
    }
}
