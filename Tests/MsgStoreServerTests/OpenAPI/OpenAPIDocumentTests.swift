import Foundation
import Hummingbird
import Logging
import Messaging
import MsgStoreServer
import Testing

@Suite struct OpenAPIDocumentTests {
    /// `Sources/MsgStoreServer/Resources/openapi.yaml`, the document kept in the repo.
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/MsgStoreServer/Resources/openapi.yaml")

    @Test func compiledDocumentIsTheRepoFile() throws {
        let file = try String(contentsOf: Self.documentURL, encoding: .utf8)
        #expect(OpenAPIDocument.yaml == file, "run Tools/update-openapi-swift.sh")
    }

    @Test func servedAsIs() async throws {
        try await TestServer().test { api in
            let response = try await api.request(.get, "/openapi.yaml")
            #expect(response.status == .ok)
            #expect(String(decoding: response.body, as: UTF8.self) == OpenAPIDocument.yaml)
        }
    }

    @Test func documentIsValidOpenAPI() throws {
        guard let python = Self.which("python3")
        else {
            print("SKIPPED documentIsValidOpenAPI: python3 is not installed")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "openapi_spec_validator", Self.documentURL.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let hint = text.contains("No module named") ? " (install it: python3 -m pip install openapi-spec-validator)" : ""
        #expect(process.terminationStatus == 0, "openapi_spec_validator: \(text)\(hint)")
    }

    @Test func listsEveryRouteOfTheRouter() throws {
        let server = MessagingServer(
            storage: InMemoryMessagingStorage(), options: ServerOptions(), logger: Logger(label: "test"))
        let routes = Set(server.makeRouter().routes.map { "\($0.method.rawValue) \($0.path.description)" })
        #expect(routes == Set(APIRoutes.all.map { "\($0.method.rawValue) \($0.openAPIPath)" }))
        let documented = Set(Self.documentedOperations(OpenAPIDocument.yaml))
        #expect(documented == Set(APIRoutes.all.map { "\($0.method.rawValue) \($0.openAPIPath)" }))
    }

    /// The document's example of a block body is a valid request (found by schemathesis: without
    /// an example of its own, the body's example was built from the `Id` example, one user
    /// twice, which the server rightly refuses with 400: a user cannot block themselves).
    @Test func blockBodyExampleIsAValidRequest() async throws {
        let example = try #require(
            Self.requestBodyExample("Block", in: OpenAPIDocument.yaml), "components.requestBodies.Block has no example")
        let blocker = try #require(example["blockerId"])
        let blocked = try #require(example["blockedId"])
        #expect(UUID(uuidString: blocker) != nil && UUID(uuidString: blocked) != nil)
        #expect(blocker.lowercased() != blocked.lowercased(), "the example names one user twice")
        try await TestServer().test { api in
            for method in [HTTPRequest.Method.post, .delete] {
                let response = try await api.request(method, "/users/block", object: example)
                // Valid, its users just do not exist here: 404, not the 400 of blocking oneself.
                #expect(response.status == .notFound && response.errorCode == "not_found", "\(method)")
            }
        }
    }

    /// The scalar fields of `example:` under `components.requestBodies.<name>` (text, two-space YAML).
    static func requestBodyExample(_ name: String, in yaml: String) -> [String: String]? {
        var section = "", body = "", inExample = false, exampleIndent = 0
        var fields: [String: String] = [:]
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = line.prefix(while: { $0 == " " }).count
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if indent == 2 { section = text }
            if indent == 4 { body = text; inExample = false }
            guard section == "requestBodies:", body == "\(name):" else { continue }
            if inExample && indent <= exampleIndent { inExample = false }
            if text == "example:" {
                inExample = true
                exampleIndent = indent
            } else if inExample, let colon = text.firstIndex(of: ":") {
                fields[String(text[..<colon])] = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields.isEmpty ? nil : fields
    }

    /// `METHOD /path` for every operation under `paths:` (two-space path keys, four-space methods).
    static func documentedOperations(_ yaml: String) -> [String] {
        var operations: [String] = []
        var inPaths = false
        var path = ""
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") { inPaths = line == "paths:" }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(method) {
                    operations.append("\(method) \(path)")
                }
            }
        }
        return operations
    }

    static func which(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .map { "\($0)/\(name)" }.first(where: FileManager.default.isExecutableFile)
    }
}
