import Foundation
import Messaging
import NIOCore
import Testing
@testable import MsgStoreServer

/// The inbox page written straight into a `ByteBuffer` is the JSON that
/// `JSONEncoder` makes of ``InboxPageBody``: the same document (this
/// `JSONEncoder` orders keys by hash, so documents are compared parsed), and
/// strings escaped byte for byte as `JSONEncoder` escapes them.
@Suite struct InboxPageWriterTests {
    private static let alphabet: [String] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{08}", "\u{0C}",
                                             "\u{01}", "\u{1F}", "\u{7F}", "é", "€", "😀", "<", "&", "'"]

    @Test func stringsAreEscapedExactlyAsJSONEncoderEscapesThem() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var random = SystemRandomNumberGenerator()
        var samples = Self.alphabet + (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        samples += (0..<300).map { _ in (0..<Int.random(in: 0...16, using: &random)).map { _ in Self.alphabet.randomElement(using: &random)! }.joined() }
        for text in samples {
            var buffer = ByteBuffer()
            InboxPageWriter.writeJSONString(text, into: &buffer)
            #expect(String(buffer: buffer) == String(decoding: try encoder.encode(text), as: UTF8.self), "\(Array(text.utf8))")
        }
    }

    @Test func matchesJSONEncoderOnRandomPages() throws {
        var random = SystemRandomNumberGenerator()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        for round in 0..<200 {
            let count = Int.random(in: 0...6, using: &random)
            let messages = (0..<count).map { _ in
                InboxMessage(
                    messageID: .random(), sender: UserID(UUID()), recipient: UserID(UUID()),
                    content: (0..<Int.random(in: 0...12, using: &random)).map { _ in Self.alphabet.randomElement(using: &random)! }.joined(),
                    date: MessageDate(microsecondsSinceEpoch: Int64.random(in: 0...4_000_000_000_000_000, using: &random)),
                    sentAt: MessageDate(microsecondsSinceEpoch: Int64.random(in: 0...4_000_000_000_000_000, using: &random)),
                    groupID: Bool.random(using: &random) ? GroupID(UUID()) : nil)
            }
            let token = Bool.random(using: &random) ? messages.last?.date : nil
            let page = InboxPage(messages: messages, nextPageToken: token)
            var buffer = ByteBuffer()
            InboxPageWriter.write(page, into: &buffer)
            let written = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? NSDictionary
            let expected = try JSONSerialization.jsonObject(with: try encoder.encode(InboxPageBody(page))) as? NSDictionary
            #expect(written != nil && written == expected, "round \(round): \(String(buffer: buffer))")
            // The service cuts pages by this count (a token always has room in the overhead).
            let counted = InboxPageSize.pageOverhead - (token == nil ? 46 : 0)
                + messages.reduce(0) { $0 + InboxPageSize.bytes(of: $1) } + max(0, messages.count - 1)
            #expect(buffer.readableBytes == counted, "round \(round)")
        }
    }
}
