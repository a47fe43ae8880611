import Foundation
import Messaging
import Testing

@Suite struct MessageDateTests {
    @Test func formatsWithMicrosecondsInUTC() {
        let date = MessageDate(microsecondsSinceEpoch: 1_719_226_193_159_123)
        #expect(date.iso8601String == "2024-06-24T10:49:53.159123Z")
        #expect(MessageDate(microsecondsSinceEpoch: 0).iso8601String == "1970-01-01T00:00:00.000000Z")
        #expect(MessageDate(microsecondsSinceEpoch: 951_782_400_000_001).iso8601String == "2000-02-29T00:00:00.000001Z")
    }

    @Test func parsesWhatItFormats() {
        for micros: Int64 in [0, 1, 999_999, 1_719_226_193_159_123, 4_102_444_799_999_999] {
            let date = MessageDate(microsecondsSinceEpoch: micros)
            #expect(MessageDate(iso8601: date.iso8601String) == date)
        }
    }

    /// The digit-by-digit formatter against Foundation's calendar on random
    /// dates across the whole range (years 1…9999), and its round trip.
    @Test func formatsRandomDatesAsFoundationDoes() {
        var random = SeededGenerator(seed: testSeed("formatsRandomDatesAsFoundationDoes"))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for _ in 0..<2_000 {
            let micros = Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &random)
            let date = MessageDate(microsecondsSinceEpoch: micros)
            let text = date.iso8601String
            #expect(MessageDate(iso8601: text) == date, "\(micros) → \(text)")
            let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                                from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            let fraction = micros - seconds * 1_000_000
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.year!, parts.month!, parts.day!,
                                  parts.hour!, parts.minute!, parts.second!, Int(fraction))
            if parts.year! >= 1583 {  // Foundation's calendar is Julian before the Gregorian reform; ours is proleptic
                #expect(text == expected, "\(micros)")
            }
        }
    }

    @Test func parsesAnyISO8601UTCForm() {
        let expected = MessageDate(microsecondsSinceEpoch: 1_719_226_193_000_000)
        #expect(MessageDate(iso8601: "2024-06-24T10:49:53Z") == expected)
        #expect(MessageDate(iso8601: "2024-06-24T10:49:53.000Z") == expected)
        #expect(MessageDate(iso8601: "2024-06-24T10:49:53+00:00") == expected)
        #expect(MessageDate(iso8601: "2024-06-24T12:49:53+02:00") == expected)
        #expect(MessageDate(iso8601: "2024-06-24T10:49:53.1Z")?.microsecondsSinceEpoch == 1_719_226_193_100_000)
        #expect(MessageDate(iso8601: "2024-06-24T10:49:53.1591239Z")?.microsecondsSinceEpoch == 1_719_226_193_159_123)
    }

    @Test(arguments: [
        "", "yesterday", "2024-06-24", "2024-06-24T10:49:53", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
        "2024-06-24T24:00:00Z", "2024-06-24T10:49:53.Z", "2024-06-24T10:49:53Zjunk", "2024-06-24 10:49Z",
    ])
    func rejectsUnparsable(_ text: String) {
        #expect(MessageDate(iso8601: text) == nil)
    }

    @Test func clockNeverGoesBack() {
        var clock = MicrosecondClock(after: MessageDate(microsecondsSinceEpoch: 5_000))
        #expect(clock.next(now: MessageDate(microsecondsSinceEpoch: 10)).microsecondsSinceEpoch == 5_001)
        #expect(clock.next(now: MessageDate(microsecondsSinceEpoch: 5_001)).microsecondsSinceEpoch == 5_002)
        #expect(clock.next(now: MessageDate(microsecondsSinceEpoch: 9_000)).microsecondsSinceEpoch == 9_000)
    }
}
