import Foundation
import Testing
@testable import MsgStoreServer

/// The byte-by-byte `Content-Type` check agrees with its definition written
/// with Foundation (trim, lowercase, compare).
@Suite struct ContentTypeTests {
    private static func reference(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", omittingEmptySubsequences: false).first?
            .trimmingCharacters(in: CharacterSet(charactersIn: " \t")).lowercased() ?? ""
        return mediaType == "application/json" || mediaType.hasSuffix("+json")
    }

    @Test func agreesWithTheFoundationDefinition() {
        var cases = ["application/json", "Application/JSON", " application/json ; charset=utf-8", "\tapplication/json",
                     "application/merge-patch+json", "application/vnd.api+JSON;v=1", "text/plain", "", ";", "json",
                     "+json", "application/jsonx", "xapplication/json", "application/json5", "application /json",
                     "application/json;", "APPLICATION/JSON;charset=UTF-8", "application/problem+json ", "é+json"]
        let pieces = ["application", "/", "json", "+", ";", " ", "\t", "x", "JSON", "A"]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            cases.append((0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        for contentType in cases {
            #expect(JSONBodyReader.isJSON(contentType) == Self.reference(contentType), "'\(contentType)'")
        }
    }
}
