import Hummingbird
import Messaging
import NIOCore

/// Writes an inbox page's JSON straight into the response's `ByteBuffer`:
/// no `Encodable` boxes, no intermediate `Data` or `String` of the whole
/// page. The shape is ``InboxPageBody``'s exactly (`JSONEncoder` with
/// `.withoutEscapingSlashes`): keys in the same order, absent optionals
/// left out, strings escaped as JSON requires (`"`, `\`, control
/// characters; other characters as UTF-8). `InboxPageWriterTests` checks it
/// against `JSONEncoder` on random pages. Public for `Benchmarks/BareRoute`,
/// which writes its pages with it.
public enum InboxPageWriter {
    /// The page as a `200 OK` JSON response.
    public static func response(_ page: InboxPage, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Response {
        var buffer = allocator.buffer(capacity: 64 + page.messages.reduce(0) { $0 + 260 + $1.content.utf8.count })
        write(page, into: &buffer)
        return Response(status: .ok, headers: [.contentType: JSONResponse.contentType], body: ResponseBody(byteBuffer: buffer))
    }

    /// Appends the page's JSON to `buffer`.
    static func write(_ page: InboxPage, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"messages":["#)
        for (index, message) in page.messages.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            write(message, into: &buffer)
        }
        buffer.writeStaticString("]")
        if let token = page.nextPageToken {
            buffer.writeStaticString(#","nextPageToken":""#)
            buffer.writeString(token.iso8601String)
            buffer.writeStaticString(#"""#)
        }
        buffer.writeStaticString("}")
    }

    /// Appends one message's JSON object to `buffer` (``MessageBody``'s shape).
    static func write(_ message: InboxMessage, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"messageId":""#)
        buffer.writeString(message.messageID.description)
        buffer.writeStaticString(#"","sender":""#)
        buffer.writeString(message.sender.description)
        buffer.writeStaticString(#"","recipient":""#)
        buffer.writeString(message.recipient.description)
        buffer.writeStaticString(#"","content":"#)
        writeJSONString(message.content, into: &buffer)
        buffer.writeStaticString(#","date":""#)
        buffer.writeString(message.date.iso8601String)
        buffer.writeStaticString(#"","sentAt":""#)
        buffer.writeString(message.sentAt.iso8601String)
        if let group = message.groupID {
            buffer.writeStaticString(#"","groupId":""#)
            buffer.writeString(group.description)
        }
        buffer.writeStaticString(#""}"#)
    }

    /// Appends `text` as a JSON string literal: runs of bytes that need no
    /// escape are copied as they are.
    static func writeJSONString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"""#)
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                if runStart < index { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart..<index])) }
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                case 0x08: buffer.writeStaticString(#"\b"#)
                case 0x0C: buffer.writeStaticString(#"\f"#)
                case 0x0A: buffer.writeStaticString(#"\n"#)
                case 0x0D: buffer.writeStaticString(#"\r"#)
                case 0x09: buffer.writeStaticString(#"\t"#)
                default:
                    let hex: StaticString = "0123456789abcdef"
                    buffer.writeStaticString(#"\u00"#)
                    buffer.writeInteger(hex.utf8Start[Int(byte >> 4)])
                    buffer.writeInteger(hex.utf8Start[Int(byte & 0xF)])
                }
                runStart = index + 1
            }
            if runStart < utf8.count { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart...])) }
        }
        buffer.writeStaticString(#"""#)
    }
}
