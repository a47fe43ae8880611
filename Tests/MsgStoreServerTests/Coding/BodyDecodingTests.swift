import Foundation
import Hummingbird
import Testing

/// Malformed bodies are 400s naming the problem, never 500s.
@Suite struct BodyDecodingTests {
    @Test func malformedBodies() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let uri = "/messages/user/\(bob)"
            let valid = #"{"sender":"\#(alice)","content":"x"}"#
            let bodies: [(String, Data)] = [
                ("truncated", Data(valid.dropLast().utf8)),
                ("trailing garbage", Data((valid + " xyz").utf8)),
                ("two values", Data((valid + valid).utf8)),
                ("array", Data("[]".utf8)),
                ("string", Data(#""x""#.utf8)),
                ("null", Data("null".utf8)),
                ("invalid UTF-8 in a string", Data(#"{"sender":"\#(alice)","content":""#.utf8) + Data([0xFF, 0xFE]) + Data(#""}"#.utf8)),
                ("invalid UTF-8 outside", Data([0xC3, 0x28])),
                ("single quotes", Data("{'sender': 'x'}".utf8)),
            ]
            for (name, body) in bodies {
                let response = try await api.request(.post, uri, body: body)
                #expect(response.status == .badRequest, "\(name)")
                #expect(response.errorCode == "bad_request", "\(name)")
                #expect(!response.errorMessage.isEmpty, "\(name)")
            }
            #expect(try await api.request(.post, uri, json: valid).status == .created)
            #expect(try await api.request(.post, uri, json: "\n" + valid + "\n  ").status == .created, "whitespace is fine")
        }
    }

    @Test func nonJSONContentTypeIs415() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let body = Data(#"{"sender":"\#(alice)","content":"x"}"#.utf8)
            let response = try await api.request(.post, "/messages/user/\(bob)", body: body, contentType: "text/plain")
            #expect(response.status == .unsupportedMediaType && response.errorCode == "unsupported_media_type")
            for contentType in ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", nil] {
                let accepted = try await api.request(.post, "/messages/user/\(bob)", body: body, contentType: contentType)
                #expect(accepted.status == .created, "\(contentType ?? "none")")
            }
        }
    }
}
