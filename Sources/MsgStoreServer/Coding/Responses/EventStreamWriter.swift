import HTTPTypes
import Messaging
import NIOCore

/// The Server-Sent Events of `GET /messages/{recipient}/events`: one event per
/// message,
///
/// ```
/// id: 2024-06-24T10:49:53.159123Z
/// data: {"messageId":"…","sender":"…",…}
///
/// ```
///
/// `id` is the message's inbox `date` (the cursor a reconnect sends back as
/// `Last-Event-ID`), `data` the message's JSON exactly as in an inbox page
/// (one line: JSON strings escape line breaks). An idle stream gets a
/// comment line, `: keepalive`.
enum EventStreamWriter {
    static let contentType = "text/event-stream; charset=utf-8"

    /// The header a reconnecting `EventSource` sends: the last `id` it received.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// The keepalive comment.
    static let keepalive = ByteBuffer(string: ": keepalive\n\n")

    /// The events of `messages`, in order, in one buffer.
    static func events(_ messages: [InboxMessage], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: messages.reduce(0) { $0 + 300 + $1.content.utf8.count })
        for message in messages {
            buffer.writeStaticString("id: ")
            buffer.writeString(message.date.iso8601String)
            buffer.writeStaticString("\ndata: ")
            InboxPageWriter.write(message, into: &buffer)
            buffer.writeStaticString("\n\n")
        }
        return buffer
    }
}
