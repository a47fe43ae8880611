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

    /// Regression: Foundation's decoder accepted all of these, which are not JSON (RFC 8259).
    @Test func bodiesTheDecoderToleratesButAreNotJSONAre400() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let group = try await api.newGroup(members: [])
            let fields = #""sender":"\#(alice)","content":"x""#
            let bodies: [(String, String)] = [
                ("trailing comma in an object", "{\(fields),}"),
                ("trailing comma in an array", #"{\#(fields),"n":[1,]}"#),
                ("leading zero", #"{\#(fields),"n":01}"#),
                ("fraction without digits", #"{\#(fields),"n":1.}"#),
                ("exponent without digits", #"{\#(fields),"n":1e}"#),
                ("byte order mark", "\u{FEFF}{\(fields)}"),
                ("lone surrogate", #"{"sender":"\#(alice)","content":"x\udc00"}"#),
                ("nested too deep", #"{\#(fields),"n":\#(String(repeating: "[", count: 65))\#(String(repeating: "]", count: 65))}"#),
            ]
            for (name, body) in bodies {
                let response = try await api.request(.post, "/messages/user/\(bob)", json: body)
                #expect(response.status == .badRequest && response.errorCode == "bad_request", "\(name)")
                #expect(response.errorMessage.contains("not valid JSON"), "\(name): \(response.errorMessage)")
            }
            // Routes whose body is optional are as strict.
            for (method, uri) in [(HTTPRequest.Method.post, "/users"), (.post, "/groups"), (.post, "/groups/\(group)/members")] {
                let response = try await api.request(method, uri, json: "{\"userId\":\"\(alice)\",}")
                #expect(response.status == .badRequest, "\(uri)")
            }
            #expect(try await api.request(.post, "/messages/user/\(bob)", json: #"{\#(fields),"n":[0,-1.5e+3,{"a":null}]}"#).status == .created)
            #expect(try await api.request(.post, "/messages/user/\(bob)", json: #"{"sender":"\#(alice)","content":"\ud83d\ude00"}"#).status == .created)
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
