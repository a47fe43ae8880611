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

    /// The document's examples of a block body are valid requests (found by schemathesis: the
    /// body a client builds from the properties' examples named the `Id` example twice, one user
    /// blocking themselves, which the server rightly refuses with 400).
    @Test func blockBodyExamplesAreValidRequests() async throws {
        let block = Self.requestBodyExamples("Block", in: OpenAPIDocument.yaml)
        let idExample = try #require(Self.schemaExample("Id", in: OpenAPIDocument.yaml))
        let stated = try #require(block.example, "components.requestBodies.Block has no example")
        let composed = [
            "blockerId": block.propertyExamples["blockerId"] ?? idExample,
            "blockedId": block.propertyExamples["blockedId"] ?? idExample,
        ]
        try await TestServer().test { api in
            for (name, body) in [("example", stated), ("properties' examples", composed)] {
                let blocker = try #require(body["blockerId"]), blocked = try #require(body["blockedId"])
                #expect(UUID(uuidString: blocker) != nil && UUID(uuidString: blocked) != nil, "\(name)")
                #expect(blocker.lowercased() != blocked.lowercased(), "\(name) names one user twice: \(body)")
                for method in [HTTPRequest.Method.post, .delete] {
                    let response = try await api.request(method, "/users/block", object: body)
                    // Valid, its users just do not exist here: 404, not the 400 of blocking oneself.
                    #expect(response.status == .notFound && response.errorCode == "not_found", "\(name), \(method)")
                }
            }
        }
    }

    /// The first of `examples: ['…']` of `components.schemas.<name>` (text, two-space YAML).
    static func schemaExample(_ name: String, in yaml: String) -> String? {
        var section = "", schema = ""
        for line in yaml.split(separator: "\n") {
            let indent = line.prefix(while: { $0 == " " }).count
            let text = line.trimmingCharacters(in: .whitespaces)
            if indent == 2 { section = text }
            if indent == 4 { schema = text }
            if section == "schemas:", schema == "\(name):", indent == 6, text.hasPrefix("examples:") {
                return firstQuoted(text)
            }
        }
        return nil
    }

    /// Under `components.requestBodies.<name>`: the scalar fields of its `example:`, and the first
    /// `examples:` entry that a property states itself (text, two-space YAML).
    static func requestBodyExamples(_ name: String, in yaml: String) -> (example: [String: String]?, propertyExamples: [String: String]) {
        var section = "", body = "", property = "", inExample = false, exampleIndent = 0
        var example: [String: String] = [:], properties: [String: String] = [:]
        for line in yaml.split(separator: "\n") {
            let indent = line.prefix(while: { $0 == " " }).count
            let text = line.trimmingCharacters(in: .whitespaces)
            if indent == 2 { section = text }
            if indent == 4 { body = text; inExample = false }
            guard section == "requestBodies:", body == "\(name):" else { continue }
            if inExample && indent <= exampleIndent { inExample = false }
            if text == "example:" {
                inExample = true
                exampleIndent = indent
            } else if inExample, let colon = text.firstIndex(of: ":") {
                example[String(text[..<colon])] = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            } else if text.hasSuffix(":"), !text.contains(" ") {
                property = String(text.dropLast())
            } else if text.hasPrefix("examples:"), let value = firstQuoted(text) {
                properties[property] = value
            }
        }
        return (example.isEmpty ? nil : example, properties)
    }

    private static func firstQuoted(_ text: String) -> String? {
        let parts = text.split(separator: "'")
        return parts.count >= 2 ? String(parts[1]) : nil
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
