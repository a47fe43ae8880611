/// The size in bytes of an inbox page in the HTTP API's JSON form, known
/// before the page is written: the service cuts pages at
/// ``MessagingLimits/maxPageBytes`` with it.
///
/// The form is the API's exactly: keys `messageId`, `sender`, `recipient`,
/// `content`, `date`, `sentAt` and, on group copies, `groupId`, no spaces,
/// ids as 36 characters, dates as 27, strings escaped as JSON requires (`"`,
/// `\`, control characters; other characters as their UTF-8 bytes). The
/// server's page writer is tested to produce exactly these counts.
public enum InboxPageSize {
    /// `{"messages":[` `]` `}` and the longest `,"nextPageToken":"<date>"`: a
    /// page's bytes besides its messages and the commas between them.
    public static let pageOverhead = 13 + 1 + 1 + 18 + 27 + 1

    /// The bytes of one message's JSON object.
    public static func bytes(of message: InboxMessage) -> Int {
        // {"messageId":"…","sender":"…","recipient":"…","content":…,"date":"…","sentAt":"…"}
        let fixed = 14 + 36 + 12 + 36 + 15 + 36 + 12 + 9 + 27 + 12 + 27 + 2
        let group = message.groupID == nil ? 0 : 13 + 36
        return fixed + group + escapedBytes(of: message.content)
    }

    /// The bytes of `text` as a JSON string literal, quotes included.
    public static func escapedBytes(of text: String) -> Int {
        var count = 2
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0A, 0x0C, 0x0D: count += 2
            case 0..<0x20: count += 6
            default: count += 1
            }
        }
        return count
    }
}
