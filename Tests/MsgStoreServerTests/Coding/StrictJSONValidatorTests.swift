import Foundation
import Testing
@testable import MsgStoreServer

/// ``StrictJSONValidator`` accepts exactly RFC 8259's grammar.
@Suite struct StrictJSONValidatorTests {
    private func accepts(_ text: String) -> Bool {
        (try? StrictJSONValidator.validate(Array(text.utf8))) != nil
    }

    @Test func acceptsJSON() {
        for text in [
            "{}", "[]", "0", "-0", "1.5e+10", "-0.25E-3", "true", "false", "null", #""""#,
            #" {"a" : [1, 2, {"b": null}], "c": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"} "#,
            "\t\r\n[ ]\n", #"{"a":{"a":{"a":[]}}}"#, "{\"é\":\"日本\"}",
            String(repeating: "[", count: StrictJSONValidator.maxDepth) + String(repeating: "]", count: StrictJSONValidator.maxDepth),
        ] {
            #expect(accepts(text), "\(text)")
        }
    }

    @Test func refusesWhatIsNotJSON() {
        for text in [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{,}", "[,1]", "01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10",
            "NaN", "Infinity", "-Infinity", "tru", "nul", "True", "'a'", "{a:1}", "{\"a\" 1}", "{\"a\":}", "[1 2]",
            "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\u{01}b\"",
            "\"\t\"", "\"unterminated", "{} {}", "[] x", "/*c*/{}", "{}//c", "\u{FEFF}{}",
            String(repeating: "[", count: StrictJSONValidator.maxDepth + 1) + String(repeating: "]", count: StrictJSONValidator.maxDepth + 1),
        ] {
            #expect(!accepts(text), "\(text.debugDescription)")
        }
    }

    /// Random documents written by `JSONSerialization` are accepted; cutting one
    /// short anywhere (but at its end) makes it invalid.
    @Test func randomDocumentsAndTheirPrefixes() throws {
        var generator = SystemRandomNumberGenerator()
        func value(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &generator) {
            case 0: return Int.random(in: -1_000_000...1_000_000, using: &generator)
            case 1: return Double.random(in: -1e6...1e6, using: &generator)
            case 2: return String((0..<Int.random(in: 0..<8, using: &generator)).map { _ in
                Character(Unicode.Scalar(UInt8.random(in: 0...0x7F, using: &generator))) })
            case 3: return Bool.random(using: &generator)
            case 4: return (0..<Int.random(in: 0..<4, using: &generator)).map { _ in value(depth + 1) }
            default:
                var object: [String: Any] = [:]
                for index in 0..<Int.random(in: 0..<4, using: &generator) { object["k\(index)"] = value(depth + 1) }
                return object
            }
        }
        for _ in 0..<200 {
            var object: [String: Any] = [:]
            object["v"] = value(0)
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: object))
            #expect((try? StrictJSONValidator.validate(bytes)) != nil, "\(String(decoding: bytes, as: UTF8.self))")
            let cut = Int.random(in: 0..<bytes.count, using: &generator)
            #expect((try? StrictJSONValidator.validate(Array(bytes[..<cut]))) == nil)
        }
    }
}
