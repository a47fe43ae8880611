#if DEBUG || MSGSTORE_FUZZ
import Foundation
@testable import Messaging
@testable import MsgStoreServer

/// The server's request decoding: JSON bodies, dates, UUIDs.
enum ServerTargets {
    // MARK: json

    /// A request body through ``JSONBodyReader`` into every request type the
    /// routes decode, then the ids in it through ``RequestValue``: a value
    /// or a 400 naming the problem, nothing else. Also the `Content-Type`
    /// check on the same bytes.
    static func json(_ input: [UInt8]) {
        func decode<Body: Decodable>(_ type: Body.Type, _ contentType: String? = "application/json") -> Body? {
            do {
                return try JSONBodyReader.decodeIfPresent(type, bytes: input, contentType: contentType)
            } catch let error as APIError {
                Contract.expect(error.status == .badRequest, "a body gives \(error.status), not 400: \(error.message)")
                return nil
            } catch {
                fatalError("a body throws \(Swift.type(of: error)), not an APIError: \(error)")
            }
        }
        if let body = decode(SendMessageRequestBody.self) { ids([body.sender], ["sender"]) }
        if let body = decode(BlockRequestBody.self, "application/problem+JSON; charset=utf-8") {
            ids([body.blockerId, body.blockedId], ["blockerId", "blockedId"])
        }
        if let body = decode(AddMemberRequestBody.self, nil) { ids([body.userId], ["userId"]) }
        _ = decode(EmptyRequestBody.self)
        _ = JSONBodyReader.isJSON(String(decoding: input, as: UTF8.self))
    }

    private static func ids(_ texts: [String], _ fields: [String]) {
        for (text, field) in zip(texts, fields) {
            do {
                let user = try RequestValue.userID(text, field: field)
                let group = try RequestValue.groupID(text, field: field)
                Contract.expect(user.description == group.description && user.description == text.lowercased(),
                                "id '\(text)' reads as \(user) and \(group)")
            } catch let error as APIError {
                Contract.expect(error.status == .badRequest, "an id gives \(error.status), not 400")
            } catch {
                fatalError("an id throws \(type(of: error)), not an APIError: \(error)")
            }
        }
    }

    // MARK: date

    /// The ISO-8601 date parser (`MessageDate(iso8601:)`, the `date` query
    /// parameter): a date or nil, never a trap. A date in years 0001...9999
    /// must print and parse back to itself; so must any microsecond count
    /// in that range taken from the input's first 8 bytes.
    static func date(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        let parsed = MessageDate(iso8601: text)
        do {
            let value = try RequestValue.date(text, field: "date")
            Contract.expect(value == parsed, "RequestValue.date and MessageDate disagree on '\(text)'")
        } catch let error as APIError {
            Contract.expect(parsed == nil && error.status == .badRequest, "'\(text)' gives \(error.status)")
        } catch {
            fatalError("a date throws \(type(of: error)), not an APIError: \(error)")
        }
        if let parsed { roundTrip(parsed, from: text) }
        if input.count >= 8 {
            let micros = input.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
            roundTrip(MessageDate(microsecondsSinceEpoch: micros), from: "\(micros)µs")
        }
    }

    /// The first and last microseconds `iso8601String` prints without clamping (0001-01-01, 9999-12-31).
    static let printable: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    private static func roundTrip(_ date: MessageDate, from source: String) {
        let printed = date.iso8601String
        Contract.expect(printed.utf8.count == 27, "'\(source)' prints as '\(printed)'")
        let again = MessageDate(iso8601: printed)
        Contract.expect(again != nil, "'\(printed)' (from '\(source)') does not parse")
        if printable.contains(date.microsecondsSinceEpoch) {
            Contract.expect(again == date, "'\(source)' prints as '\(printed)', which parses to \(again!.microsecondsSinceEpoch)µs, not \(date.microsecondsSinceEpoch)µs")
        }
    }

    // MARK: uuid

    /// The UUID parser of ids (``UUIDText``): must accept exactly the
    /// 8-4-4-4-12 hex digit form, in either case, to the value Foundation's
    /// `UUID(uuidString:)` reads (which on Linux also accepts dashes
    /// elsewhere), and print the lowercase of what it parsed; any 16 bytes
    /// print and parse back.
    static func uuid(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        let parsed = UUIDText.parse(text)
        let foundation = UUID(uuidString: text)
        Contract.expect(parsed == nil || parsed == foundation, "'\(text)' parses as \(parsed!), Foundation says \(String(describing: foundation))")
        Contract.expect((parsed != nil) == isCanonical(text), "'\(text)' parses as \(String(describing: parsed))")
        if let parsed {
            Contract.expect(UUIDText.lowercase(parsed) == text.lowercased(), "'\(text)' prints as \(UUIDText.lowercase(parsed))")
        }
        _ = UserID(text)
        _ = GroupID(text)
        if input.count >= 16 {
            let uuid = input.withUnsafeBytes { raw in
                UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                            raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
            }
            let printed = UUIDText.lowercase(uuid)
            Contract.expect(printed == uuid.uuidString.lowercased(), "\(uuid) prints as \(printed)")
            Contract.expect(UUIDText.parse(printed) == uuid, "\(printed) does not parse back")
        }
    }

    /// Whether `text` is 36 characters: hex digits with dashes at 8, 13, 18 and 23.
    private static func isCanonical(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                if byte != UInt8(ascii: "-") { return false }
            } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) && !(UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20) {
                return false
            }
        }
        return true
    }
}
#endif
