/// Checks that bytes are exactly one JSON text as RFC 8259 defines it, before
/// any decoder sees them: decoders are lenient in places (Foundation's accepts
/// some non-JSON number forms and more), and the API promises that anything
/// that is not JSON is a `400`.
///
/// What is refused: anything outside the grammar (comments, trailing commas,
/// single quotes, unquoted keys, `NaN`/`Infinity`, leading zeros, `+1`, `.5`,
/// `1.`, hexadecimal), a second value after the first, unescaped control
/// characters inside strings, unknown escapes, `\u` escapes that form a lone
/// surrogate (JSON allows them, but they are no Unicode text and cannot be
/// stored as a message), and nesting deeper than ``maxDepth`` (a bound on the
/// work and the decoder's recursion). UTF-8 validity is checked separately by
/// the caller. One pass, no allocation.
struct StrictJSONValidator {
    /// The deepest nesting of arrays and objects accepted.
    static let maxDepth = 64

    /// A description of the first defect, with its byte offset.
    struct Failure: Error, Equatable {
        let offset: Int
        let reason: String
    }

    /// Throws ``Failure`` unless `bytes` are one JSON value with optional whitespace around it.
    static func validate(_ bytes: UnsafeRawBufferPointer) throws {
        var validator = StrictJSONValidator(bytes: bytes)
        validator.skipWhitespace()
        try validator.value(depth: 0)
        validator.skipWhitespace()
        if validator.position < bytes.count { throw validator.failure("unexpected data after the JSON value") }
    }

    /// ``validate(_:)`` over an array.
    static func validate(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try validate($0) }
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func failure(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func value(depth: Int) throws {
        guard let byte = current else { throw failure("a value is missing") }
        switch byte {
        case UInt8(ascii: "{"): try object(depth: depth + 1)
        case UInt8(ascii: "["): try array(depth: depth + 1)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw failure("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws {
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
        position += 1  // {
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return }
        while true {
            guard current == UInt8(ascii: "\"") else { throw failure("an object key must be a string") }
            try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("':' expected after an object key") }
            position += 1
            skipWhitespace()
            try value(depth: depth)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                position += 1
                return
            default:
                throw failure("',' or '}' expected in an object")
            }
        }
    }

    private mutating func array(depth: Int) throws {
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
        position += 1  // [
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return }
        while true {
            try value(depth: depth)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                position += 1
                return
            default:
                throw failure("',' or ']' expected in an array")
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw failure("unexpected end of the body") }
        for index in 0..<count where bytes[position + index] != word.utf8Start[index] {
            throw failure("unexpected character")
        }
        position += count
    }

    private mutating func number() throws {
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, isDigit(first) else { throw failure("a digit expected in a number") }
        position += 1
        if first != UInt8(ascii: "0") {
            while let byte = current, isDigit(byte) { position += 1 }
        } else if let byte = current, isDigit(byte) {
            throw failure("a number must not have leading zeros")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard let byte = current, isDigit(byte) else { throw failure("a digit expected after '.'") }
            while let byte = current, isDigit(byte) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let byte = current, isDigit(byte) else { throw failure("a digit expected in an exponent") }
            while let byte = current, isDigit(byte) { position += 1 }
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func string() throws {
        position += 1  // opening quote
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                position += 1
                guard let escaped = current else { throw failure("unterminated string") }
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 1
                case UInt8(ascii: "u"):
                    position += 1
                    let unit = try hexQuad()
                    if (0xD800...0xDBFF).contains(unit) {
                        // A high surrogate must be followed by an escaped low surrogate.
                        guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                              bytes[position + 1] == UInt8(ascii: "u")
                        else { throw failure("a lone surrogate in a \\u escape") }
                        position += 2
                        guard (0xDC00...0xDFFF).contains(try hexQuad()) else { throw failure("a lone surrogate in a \\u escape") }
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw failure("a lone surrogate in a \\u escape")
                    }
                default:
                    throw failure("an unknown escape in a string")
                }
            case 0x00..<0x20:
                throw failure("a control character inside a string must be escaped")
            default:
                position += 1
            }
        }
    }

    private mutating func hexQuad() throws -> UInt16 {
        guard bytes.count - position >= 4 else { throw failure("four hex digits expected after \\u") }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("four hex digits expected after \\u")
            }
            unit = unit << 4 | UInt16(digit)
            position += 1
        }
        return unit
    }
}
