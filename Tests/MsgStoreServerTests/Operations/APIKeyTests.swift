import Foundation
import Hummingbird
import MsgStoreServer
import Testing

/// `serve --api-keys`: the key file, constant-time lookup, and the middleware's answers.
@Suite struct APIKeyTests {
    static let keyFile = """
        # name   key                      access
        app      0123456789abcdef0123     read-write
        dash     ffffffffffffffff0000     read-only   # dashboards
        legacy   abcdefabcdefabcdefab
        """

    @Test func theFileFormatIsParsedWithNamesAndAccess() throws {
        let keys = try APIKeys(parsing: Self.keyFile)
        #expect(keys.keys.map(\.name) == ["app", "dash", "legacy"])
        #expect(keys.keys.map(\.access) == [.readWrite, .readOnly, .readWrite])
        #expect(keys.authenticate(Array("0123456789abcdef0123".utf8))?.name == "app")
        #expect(keys.authenticate(Array("ffffffffffffffff0000".utf8))?.name == "dash")
        #expect(keys.authenticate(Array("abcdefabcdefabcdefab".utf8))?.name == "legacy")
        // A prefix, an extension, one byte off, empty: no key.
        for wrong in ["0123456789abcdef012", "0123456789abcdef01234", "0123456789abcdef0124", "", "app"] {
            #expect(keys.authenticate(Array(wrong.utf8)) == nil, "\(wrong)")
        }
    }

    @Test func aBadFileNamesItsLine() {
        let cases: [(String, String)] = [
            ("app short", "line 1"),
            ("a 0123456789abcdef0123 admin", "line 1: access must be"),
            ("# only a comment\n\n", "holds no key"),
            ("a 0123456789abcdef0123\nb 0123456789abcdef0123", "line 2: the same key is listed twice"),
            ("a 0123456789abcdef0123 read-only extra", "line 1: expected NAME KEY"),
        ]
        for (text, expected) in cases {
            #expect(throws: APIKeysError.self, "\(text)") { try APIKeys(parsing: text, file: "keys.txt") }
            do {
                _ = try APIKeys(parsing: text, file: "keys.txt")
            } catch {
                #expect("\(error)".contains("keys.txt"), "\(error)")
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func withKeysEveryRouteButHealthAndTheContractNeedsOne() async throws {
        let server = TestServer(apiKeys: try APIKeys(parsing: Self.keyFile))
        try await server.test { api in
            let bearer: (String) -> HTTPFields = { [.authorization: "Bearer \($0)"] }
            // Open routes.
            #expect(try await api.request(.get, "/health").status == .ok)
            #expect(try await api.request(.get, "/openapi.yaml").status == .ok)
            // No key, a wrong key, a wrong scheme: 401 with WWW-Authenticate and the usual error body.
            let missing = try await api.request(.post, "/users")
            #expect(missing.status == .unauthorized && missing.errorCode == "unauthorized")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer realm=\"msgstore\"")
            let wrong = try await api.request(.post, "/users", headers: bearer("0123456789abcdef0124"))
            #expect(wrong.status == .unauthorized && wrong.errorCode == "unauthorized")
            #expect(wrong.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            let basic = try await api.request(.post, "/users", headers: [.authorization: "Basic YWxhZGRpbjpvcGVuc2VzYW1l"])
            #expect(basic.status == .unauthorized)
            #expect(try await api.request(.get, "/messages/\(UUID().uuidString.lowercased())").status == .unauthorized)
            // A read-write key does everything; the scheme is case-insensitive.
            let created = try await api.request(.post, "/users", headers: [.authorization: "bearer 0123456789abcdef0123"])
            #expect(created.status == .created)
            let user = try #require(created.json["userId"] as? String)
            // A read-only key reads, and is refused anything else with 403.
            #expect(try await api.request(.get, "/messages/\(user)", headers: bearer("ffffffffffffffff0000")).status == .ok)
            let refused = try await api.request(.post, "/users", headers: bearer("ffffffffffffffff0000"))
            #expect(refused.status == .forbidden && refused.errorCode == "forbidden")
            #expect(refused.errorMessage.contains("dash"))
            // An unknown route behind the key is still 401, not a hint that it does not exist.
            #expect(try await api.request(.get, "/nope").status == .unauthorized)
        }
    }

    @Test func withoutKeysNothingIsAsked() async throws {
        try await TestServer().test { api async throws in
            #expect(try await api.request(.post, "/users").status == .created)
            // A stray Authorization header is ignored.
            #expect(try await api.request(.post, "/users", headers: [.authorization: "Bearer whatever"]).status == .created)
        }
    }
}
