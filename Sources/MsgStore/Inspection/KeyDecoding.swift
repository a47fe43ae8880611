/// Renders keys and values for humans, knowing the shapes msgstore's
/// messaging tables use: 16-byte ids as UUIDs, 8-byte big-endian
/// microsecond dates as ISO-8601, UTF-8 text as text, anything else as hex.
public enum KeyDecoding {
    /// A row's user key as `partitionKey | sortKey`, each part decoded.
    public static func describe(userKey: [UInt8]) -> String {
        userKey.withUnsafeBytes { raw in
            guard let row = RowKeyCoding.decode(raw) else { return "hex:" + hex(userKey) }
            let partition = describe(part: row.partitionKey)
            return row.sortKey.isEmpty ? partition : partition + " | " + describe(part: row.sortKey)
        }
    }

    /// One key part: uuid, date, date ‖ uuid, uuid ‖ uuid, text or hex.
    public static func describe(part bytes: [UInt8]) -> String {
        switch bytes.count {
        case 16: return uuid(bytes)
        case 8: return date(bytes) ?? hex(bytes)
        case 24: return (date(Array(bytes[..<8])) ?? hex(Array(bytes[..<8]))) + " " + uuid(Array(bytes[8...]))
        case 32: return uuid(Array(bytes[..<16])) + " " + uuid(Array(bytes[16...]))
        default: return text(bytes) ?? ("hex:" + hex(bytes))
        }
    }

    /// A value: text when it is printable UTF-8, else hex (with printable runs shown).
    public static func describe(value bytes: [UInt8], limit: Int = 200) -> String {
        if bytes.isEmpty { return "(empty)" }
        if let text = text(bytes) { return "\"" + String(text.prefix(limit)) + (text.count > limit ? "…" : "") + "\"" }
        let shown = Array(bytes.prefix(limit / 2))
        return "hex:" + hex(shown) + (bytes.count > shown.count ? "… (\(bytes.count) bytes)" : "")
    }

    /// Lowercase hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A 16-byte id in the canonical 8-4-4-4-12 form.
    public static func uuid(_ bytes: [UInt8]) -> String {
        let h = hex(bytes)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    /// An 8-byte big-endian microsecond timestamp between 2000 and 2200, as ISO-8601 UTC.
    public static func date(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 8 else { return nil }
        let micros = bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard micros >= 946_684_800_000_000, micros < 7_258_118_400_000_000 else { return nil }
        return iso8601(micros: micros)
    }

    /// Microseconds since the epoch as `2024-06-24T10:49:53.159123Z`.
    public static func iso8601(micros: Int64) -> String {
        // Years 0001…9999 only: crafted keys may hold any 64-bit value.
        guard micros >= -62_135_596_800_000_000, micros <= 253_402_300_799_999_999 else {
            return "out-of-range(\(micros)µs)"
        }
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil from days (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z"
    }

    /// The bytes as text if they are valid UTF-8 without control characters.
    static func text(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, let text = String(validating: bytes, as: UTF8.self),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) else { return nil }
        return text
    }
}
