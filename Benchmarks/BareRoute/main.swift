// BareRoute: the HTTP routes that Tools/http-load drives, on Hummingbird with
// no storage. It does the HTTP-layer work of `msgstore serve` for each of
// them (collect the body, check it is UTF-8, JSONDecoder into the same shape,
// parse the ids, JSONEncoder the same response shape, the same statuses) and
// nothing else, so that Tools/http-bench.sh can put msgstore's throughput and
// latency next to the ceiling of Hummingbird + Foundation JSON on this machine.
//
//   swift build -c release --product BareRoute     (in Benchmarks/)
//   .build/release/BareRoute --host 127.0.0.1 --port 0 [--page-content-bytes 100] [--page-encoding direct]
//
// Routes (docs/api.md for the real ones):
//   POST /users, POST /groups                  201 {"userId"} / {"groupId"}, a fresh UUID
//   POST /groups/{groupId}/members             204 ({"userId"})
//   POST /messages/user/{recipient}            201 {"messageId","date"}   ({"sender","content"})
//   POST /messages/group/{groupId}             202 {"messageId","date"}   ({"sender","content"})
//   GET  /messages/{recipient}?date=&limit=    200 {"messages":[limit messages],"nextPageToken"}
//        written by msgstore's own encoders (MsgStoreServer): InboxPageWriter straight
//        into the response buffer, as the server does (--page-encoding direct, the
//        default), or InboxPageBody through JSONEncoder (--page-encoding encoder)
//   GET  /health                               200 {"status":"ok"}
// No user or group is ever looked up: any well-formed UUID exists. The
// Content-Type header is not checked (msgstore's check is part of what the
// ratio measures).
import Foundation
import Hummingbird
import Logging
import Messaging
import MsgStoreServer
import NIOCore

// MARK: Options

struct Options {
    var host = "127.0.0.1"
    var port = 8080
    /// The length of each message content in an inbox page.
    var pageContentBytes = 100
    /// How inbox pages become JSON: `direct` (bytes into the response buffer) or `encoder` (JSONEncoder).
    var pageEncoding = "direct"

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var index = 0
        func value(_ name: String) -> String {
            index += 1
            guard index < arguments.count else { fail("\(name) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--host": options.host = value("--host")
            case "--port":
                guard let port = Int(value("--port")), (0...65535).contains(port) else { fail("--port must be 0...65535") }
                options.port = port
            case "--page-content-bytes":
                guard let bytes = Int(value("--page-content-bytes")), bytes >= 1 else { fail("--page-content-bytes must be >= 1") }
                options.pageContentBytes = bytes
            case "--page-encoding":
                options.pageEncoding = value("--page-encoding")
                guard ["direct", "encoder"].contains(options.pageEncoding) else { fail("--page-encoding must be direct or encoder") }
            case "-h", "--help":
                print("usage: BareRoute [--host 127.0.0.1] [--port 8080 (0: any free port)] [--page-content-bytes 100] "
                    + "[--page-encoding direct|encoder]")
                exit(0)
            default: fail("unknown argument \(arguments[index])")
            }
            index += 1
        }
        return options
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("BareRoute: \(message)\n".utf8))
        exit(2)
    }
}

// MARK: Bodies (the shapes of Sources/MsgStoreServer/Coding)

struct SendMessageRequestBody: Decodable {
    var sender: String
    var content: String
}

struct AddMemberRequestBody: Decodable {
    var userId: String
}

/// Any JSON object.
struct EmptyRequestBody: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}

struct CreatedUserBody: Encodable { var userId: String }
struct CreatedGroupBody: Encodable { var groupId: String }
struct HealthBody: Encodable { var status: String }
struct ErrorBody: Encodable {
    var error: String
    var message: String
}

struct SentMessageBody: Encodable {
    var messageId: String
    var date: String
}

// MARK: Request and response helpers

struct BareError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    static func badRequest(_ message: String) -> BareError { BareError(status: .badRequest, code: "bad_request", message: message) }
}

enum JSON {
    static let contentType = "application/json; charset=utf-8"

    static func response(_ status: HTTPResponse.Status, _ body: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(body)
        return Response(
            status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static let maxBodyBytes = 64 * 1024 * 6 + 4096

    /// As msgstore's JSONBodyReader: collect, copy, skip an empty body, check UTF-8, decode.
    static func decodeIfPresent<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        let bytes = Array(buffer.readableBytesView)
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else { return nil }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw BareError.badRequest("The request body is not valid UTF-8.") }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch is DecodingError {
            throw BareError.badRequest("The request body is invalid.")
        }
    }

    static func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body {
        guard let body = try await decodeIfPresent(type, from: request) else {
            throw BareError.badRequest("The request body must be a JSON object.")
        }
        return body
    }
}

func userID(_ text: String?, field: String) throws -> UserID {
    guard let text, let id = UserID(text) else { throw BareError.badRequest("\(field) must be a UUID.") }
    return id
}

func groupID(_ text: String?, field: String) throws -> GroupID {
    guard let text, let id = GroupID(text) else { throw BareError.badRequest("\(field) must be a UUID.") }
    return id
}

/// Maps errors to the contract's JSON error body.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BareError {
            return try JSON.response(error.status, ErrorBody(error: error.code, message: error.message))
        } catch let error as HTTPError where error.status == .notFound {
            return try JSON.response(.notFound, ErrorBody(error: "not_found", message: "No route for \(request.uri.path)."))
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return try JSON.response(.contentTooLarge, ErrorBody(error: "payload_too_large", message: "Too large."))
        }
    }
}

// MARK: The routes

/// `limit` messages for any inbox, made once; each request maps them to the
/// response shape and encodes them, as msgstore does with the messages it read.
struct PageTemplate: Sendable {
    let messages: [InboxMessage]

    init(count: Int, contentBytes: Int) {
        // The text Tools/http-load sends, cut to length.
        let text = "The quick brown fox jumps over the lazy dog. "
        let content = String(String(repeating: text, count: contentBytes / text.count + 1).prefix(contentBytes))
        let start = MessageDate.now().microsecondsSinceEpoch
        let recipient = UserID.random()
        messages = (0..<count).map { index in
            let date = MessageDate(microsecondsSinceEpoch: start + Int64(index))
            return InboxMessage(
                messageID: MessageID(UUID()), sender: UserID.random(), recipient: recipient, content: content,
                date: date, sentAt: date, groupID: index % 10 == 9 ? GroupID(UUID()) : nil)
        }
    }
}

func makeRouter(options: Options) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorMiddleware())
    let template = PageTemplate(count: 1000, contentBytes: options.pageContentBytes)
    let direct = options.pageEncoding == "direct"

    router.post("/users") { request, _ in
        _ = try await JSON.decodeIfPresent(EmptyRequestBody.self, from: request)
        return try JSON.response(.created, CreatedUserBody(userId: UserID.random().description))
    }
    router.post("/groups") { request, _ in
        _ = try await JSON.decodeIfPresent(EmptyRequestBody.self, from: request)
        return try JSON.response(.created, CreatedGroupBody(groupId: GroupID(UUID()).description))
    }
    router.post("/groups/:groupId/members") { request, context in
        _ = try groupID(context.parameters.get("groupId"), field: "groupId")
        let body = try await JSON.decode(AddMemberRequestBody.self, from: request)
        _ = try userID(body.userId, field: "userId")
        return Response(status: .noContent)
    }
    @Sendable func send(_ request: Request, status: HTTPResponse.Status) async throws -> Response {
        let body = try await JSON.decode(SendMessageRequestBody.self, from: request)
        _ = try userID(body.sender, field: "sender")
        guard !body.content.isEmpty else { throw BareError.badRequest("content must not be empty.") }
        return try JSON.response(
            status, SentMessageBody(messageId: MessageID(UUID()).description, date: MessageDate.now().iso8601String))
    }
    router.post("/messages/user/:recipient") { request, context in
        _ = try userID(context.parameters.get("recipient"), field: "recipient")
        return try await send(request, status: .created)
    }
    router.post("/messages/group/:groupId") { request, context in
        _ = try groupID(context.parameters.get("groupId"), field: "groupId")
        return try await send(request, status: .accepted)
    }
    router.get("/messages/:recipient") { request, context in
        let recipient = try userID(context.parameters.get("recipient"), field: "recipient")
        let query = request.uri.queryParameters
        let after = try query.get("date").map { text -> MessageDate in
            guard let date = MessageDate(iso8601: String(text)) else { throw BareError.badRequest("date must be an ISO-8601 date.") }
            return date
        }
        var limit = 50
        if let text = query.get("limit") {
            guard let value = Int(text), (1...1000).contains(value) else {
                throw BareError.badRequest("limit must be an integer between 1 and 1000, got '\(text)'.")
            }
            limit = value
        }
        _ = after
        let messages = template.messages.prefix(limit).map { message -> InboxMessage in
            var message = message
            message.recipient = recipient
            return message
        }
        let page = InboxPage(messages: messages, nextPageToken: messages.last?.date)
        if direct { return InboxPageWriter.response(page) }
        return try JSON.response(.ok, InboxPageBody(page))
    }
    router.get("/health") { _, _ in
        try JSON.response(.ok, HealthBody(status: "ok"))
    }
    return router
}

// MARK: Main

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
var logger = Logger(label: "bare-route")
logger.logLevel = .warning
let host = options.host
let app = Application(
    router: makeRouter(options: options),
    configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "bare-route"),
    onServerRunning: { channel in
        let port = channel.localAddress?.port ?? 0
        FileHandle.standardOutput.write(Data("bare-route listening on http://\(host):\(port)\n".utf8))
    },
    logger: logger)
try await app.runService()
print("bare-route stopped")
