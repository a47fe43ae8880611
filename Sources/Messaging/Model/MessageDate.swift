import Foundation

/// A message date: microseconds since 1970-01-01T00:00:00Z, UTC.
///
/// Dates are the order and the cursor of an inbox. Storage assigns them from
/// one monotonic microsecond clock, so within a store no two messages share a
/// date. On the wire a date is ISO-8601 UTC with exactly six fractional digits,
/// `2024-06-24T10:49:53.159123Z`; parsing accepts any ISO-8601 date-time with
/// `Z` or a numeric offset, with or without fractional seconds (digits past the
/// sixth are truncated).
public struct MessageDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    public let microsecondsSinceEpoch: Int64

    /// Wraps a microsecond count.
    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// The current wall-clock time, truncated to microseconds.
    public static func now() -> MessageDate {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return MessageDate(microsecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000)
    }

    public static func < (lhs: MessageDate, rhs: MessageDate) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// The wire form, e.g. `2024-06-24T10:49:53.159123Z`.
    public var description: String { iso8601String }

    /// The wire form, e.g. `2024-06-24T10:49:53.159123Z`.
    public var iso8601String: String {
        let micros = microsecondsSinceEpoch
        // Years 0001…9999 (what `init?(iso8601:)` accepts); anything else is clamped to the range's ends.
        let clamped = min(max(micros, -62_135_596_800_000_000), 253_402_300_799_999_999)
        let seconds = clamped >= 0 ? clamped / 1_000_000 : (clamped - 999_999) / 1_000_000
        let fraction = clamped - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        // Fixed width (27 bytes), written digit by digit.
        return String(unsafeUninitializedCapacity: 27) { out in
            var position = 0
            func put(_ value: Int64, _ width: Int) {
                var rest = value
                var index = position + width - 1
                while index >= position {
                    out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                    index -= 1
                }
                position += width
            }
            func put(_ character: Unicode.Scalar) {
                out[position] = UInt8(ascii: character)
                position += 1
            }
            put(year, 4); put("-"); put(month, 2); put("-"); put(day, 2); put("T")
            put(secondOfDay / 3600, 2); put(":"); put(secondOfDay / 60 % 60, 2); put(":"); put(secondOfDay % 60, 2)
            put("."); put(fraction, 6); put("Z")
            return position
        }
    }

    /// Parses an ISO-8601 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`.
    /// Returns nil for anything else, including out-of-range fields.
    public init?(iso8601 text: String) {
        var scanner = DateScanner(Array(text.utf8))
        guard let year = scanner.digits(4), scanner.skip("-"),
            let month = scanner.digits(2), scanner.skip("-"),
            let day = scanner.digits(2), scanner.skip("T") || scanner.skip("t") || scanner.skip(" "),
            let hour = scanner.digits(2), scanner.skip(":"),
            let minute = scanner.digits(2), scanner.skip(":"),
            let second = scanner.digits(2)
        else { return nil }
        var micros: Int64 = 0
        if scanner.skip(".") || scanner.skip(",") {
            var count = 0
            while let digit = scanner.digit() {
                if count < 6 { micros = micros * 10 + digit }
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 6) { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if scanner.skip("Z") || scanner.skip("z") {
            // UTC
        } else if let sign = scanner.sign() {
            guard let offsetHours = scanner.digits(2) else { return nil }
            _ = scanner.skip(":")
            guard let offsetMinutes = scanner.digits(2), offsetHours < 24, offsetMinutes < 60 else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard scanner.isAtEnd, (1...12).contains(month), day >= 1,
            day <= Self.daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 61
        else { return nil }
        let days = Self.days(fromCivilYear: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        self.init(microsecondsSinceEpoch: seconds * 1_000_000 + micros)
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil_from_days: days since 1970-01-01 → (year, month, day).
    private static func civil(fromDays value: Int64) -> (Int64, Int64, Int64) {
        let days = value + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    // Howard Hinnant's days_from_civil.
    private static func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// A cursor over the ASCII bytes of a date string.
private struct DateScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    mutating func skip(_ character: Character) -> Bool {
        guard index < bytes.count, let ascii = character.asciiValue, bytes[index] == ascii else { return false }
        index += 1
        return true
    }

    mutating func digit() -> Int64? {
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
        defer { index += 1 }
        return Int64(bytes[index] - UInt8(ascii: "0"))
    }

    mutating func digits(_ count: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<count {
            guard let digit = digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    mutating func sign() -> Int64? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }
}
