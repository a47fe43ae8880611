import Foundation
import Hummingbird
import Messaging
import NIOCore

/// Reads and decodes JSON request bodies, turning every defect into a 400 (or
/// 413/415) that names the problem: never a 500.
///
/// - A body larger than `maxBodyBytes`: 413.
/// - A `Content-Type` that is present and not JSON: 415 (absent is accepted).
/// - Bytes that are not UTF-8, anything that is not one JSON text as RFC 8259
///   defines it (checked by ``StrictJSONValidator`` before decoding, whatever
///   the decoder would tolerate), a non-object, a missing, null or wrongly
///   typed field: 400 naming the offset or the field.
/// - Unknown fields are ignored.
struct JSONBodyReader: Sendable {
    /// The largest body accepted, in bytes.
    let maxBodyBytes: Int

    /// Decodes a required JSON object body.
    func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body {
        guard let body = try await decodeIfPresent(type, from: request) else {
            throw APIError.badRequest("The request body must be a JSON object.")
        }
        return body
    }

    /// Decodes an optional JSON object body: nil when the body is empty.
    func decodeIfPresent<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        return try Self.decodeIfPresent(type, bytes: Array(buffer.readableBytesView), contentType: request.headers[.contentType])
    }

    /// Decodes the collected bytes of a body sent with `contentType` (nil:
    /// no header): nil when the body is empty. The decoding half of
    /// ``decodeIfPresent(_:from:)``, apart so that it can be fuzzed.
    static func decodeIfPresent<Body: Decodable>(_ type: Body.Type, bytes: [UInt8], contentType: String?) throws -> Body? {
        guard bytes.contains(where: { !Self.isJSONWhitespace($0) }) else { return nil }
        if let contentType, !Self.isJSON(contentType) {
            throw APIError.unsupportedMediaType("Content-Type must be application/json, not \(contentType).")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError.badRequest("The request body is not valid UTF-8.")
        }
        do {
            try StrictJSONValidator.validate(bytes)
        } catch let failure as StrictJSONValidator.Failure {
            throw APIError.badRequest("The request body is not valid JSON: \(failure.reason) at byte \(failure.offset).")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError.badRequest(Self.describe(error))
        }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Whether a `Content-Type` names JSON: `application/json` or any
    /// `…+json`, in any case, parameters after `;` ignored. Byte by byte:
    /// Foundation's trimming and lowercasing cost as much as decoding the body.
    static func isJSON(_ contentType: String) -> Bool {
        var contentType = contentType
        return contentType.withUTF8 { utf8 in
            var end = utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.count
            var start = 0
            while start < end && (utf8[start] == 0x20 || utf8[start] == 0x09) { start += 1 }
            while end > start && (utf8[end - 1] == 0x20 || utf8[end - 1] == 0x09) { end -= 1 }
            let mediaType = UnsafeBufferPointer(rebasing: utf8[start..<end])
            func endsWith(_ suffix: StaticString) -> Bool {
                let count = suffix.utf8CodeUnitCount
                guard mediaType.count >= count else { return false }
                let tail = mediaType.count - count
                for index in 0..<count where lowercased(mediaType[tail + index]) != suffix.utf8Start[index] { return false }
                return true
            }
            return (mediaType.count == 16 && endsWith("application/json")) || endsWith("+json")
        }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// A sentence naming what is wrong and where.
    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            (path + (key.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "Missing field '\(field(context.codingPath, key))'."
        case .valueNotFound(let type, let context):
            if context.codingPath.isEmpty { return "The request body must be a JSON object." }
            return "Field '\(field(context.codingPath))' must be \(typeName(type)), not null."
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "The request body must be a JSON object." }
            return "Field '\(field(context.codingPath))' must be \(typeName(type))."
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "The request body is not valid JSON." }
            return "Field '\(field(context.codingPath))' is invalid."
        @unknown default:
            return "The request body is invalid."
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        default: "of type \(type)"
        }
    }
}
