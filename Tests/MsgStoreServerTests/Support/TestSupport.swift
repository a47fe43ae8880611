import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
import MsgStoreServer
import NIOCore
import Testing

/// A response as the tests look at it.
struct TestResponse {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Data

    /// The body as a JSON object (fails the test if it is not one).
    var json: [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            Issue.record("body is not a JSON object: \(String(decoding: body, as: UTF8.self))")
            return [:]
        }
        return object
    }

    /// `error` of an error body.
    var errorCode: String? { json["error"] as? String }
    /// `message` of an error body.
    var errorMessage: String { json["message"] as? String ?? "" }
}

/// An in-process server (router only) with its fan-out worker running.
struct TestServer {
    let server: MessagingServer

    init(
        maxContentBytes: Int = 64 * 1024, maxPageBytes: Int = 4 * 1024 * 1024, maxWaiters: Int = 100,
        keepaliveInterval: Duration = .seconds(15), apiKeys: APIKeys? = nil, logsRequests: Bool = false,
        logger: Logger = Logger(label: "test")
    ) {
        server = MessagingServer(
            storage: InMemoryMessagingStorage(),
            options: ServerOptions(
                limits: MessagingLimits(maxContentBytes: maxContentBytes, maxPageBytes: maxPageBytes), logsRequests: logsRequests,
                maxWaiters: maxWaiters, keepaliveInterval: keepaliveInterval, apiKeys: apiKeys),
            fanOut: FanOutOptions(consumers: 2),
            logger: logger)
    }

    /// Clients waiting for messages: long polls and event streams.
    var notifier: InboxNotifier { server.notifier }

    /// Runs `body` against a live HTTP server on a free port of localhost (for
    /// streamed responses, read with ``EventStreamClient``), with the worker
    /// running. Waiting clients are released (the notifier shut down) at the end.
    func testLive<Value: Sendable>(_ body: @Sendable (TestAPI, Int) async throws -> Value) async throws -> Value {
        let worker = server.worker
        let notifier = server.notifier
        let workerTask = Task { await worker.run() }
        defer {
            worker.stop()
            workerTask.cancel()
        }
        let app = Application(router: server.makeRouter())
        return try await app.test(.live) { client in
            defer { notifier.shutDown() }
            return try await body(TestAPI(client: client), try #require(client.port))
        }
    }

    /// Runs `body` against the router with the worker running.
    func test<Value: Sendable>(_ body: @Sendable (TestAPI) async throws -> Value) async throws -> Value {
        let worker = server.worker
        let workerTask = Task { await worker.run() }
        defer {
            worker.stop()
            workerTask.cancel()
        }
        let app = Application(router: server.makeRouter())
        return try await app.test(.router) { client in
            try await body(TestAPI(client: client))
        }
    }
}

/// Requests in one line each.
struct TestAPI: Sendable {
    let client: any TestClientProtocol

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, body: Data? = nil,
        contentType: String? = "application/json", headers extraHeaders: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extraHeaders
        if let contentType, body != nil { headers[.contentType] = contentType }
        return try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }
        ) { response in
            TestResponse(status: response.status, headers: response.headers, body: Data(buffer: response.body))
        }
    }

    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, json: String) async throws -> TestResponse {
        try await request(method, uri, body: Data(json.utf8))
    }

    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, object: [String: Any]) async throws -> TestResponse {
        try await request(method, uri, body: try JSONSerialization.data(withJSONObject: object))
    }

    func newUser() async throws -> String {
        let response = try await request(.post, "/users")
        #expect(response.status == .created)
        return try #require(response.json["userId"] as? String)
    }

    func newGroup(members: [String]) async throws -> String {
        let response = try await request(.post, "/groups")
        #expect(response.status == .created)
        let group = try #require(response.json["groupId"] as? String)
        for member in members {
            let added = try await request(.post, "/groups/\(group)/members", object: ["userId": member])
            #expect(added.status == .noContent)
        }
        return group
    }

    func send(from sender: String, to recipient: String, _ content: String = "hi") async throws -> TestResponse {
        try await request(.post, "/messages/user/\(recipient)", object: ["sender": sender, "content": content])
    }

    func sendGroup(from sender: String, to group: String, _ content: String = "hi") async throws -> TestResponse {
        try await request(.post, "/messages/group/\(group)", object: ["sender": sender, "content": content])
    }

    /// One page of an inbox.
    func inbox(_ user: String, query: String = "") async throws -> TestResponse {
        try await request(.get, "/messages/\(user)\(query.isEmpty ? "" : "?" + query)")
    }

    /// The messages of every page, walking `nextPageToken`.
    func wholeInbox(_ user: String, limit: Int? = nil) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var cursor: String?
        while true {
            var query: [String] = []
            if let cursor { query.append("date=\(cursor)") }
            if let limit { query.append("limit=\(limit)") }
            let page = try await inbox(user, query: query.joined(separator: "&"))
            #expect(page.status == .ok)
            let messages = page.json["messages"] as? [[String: Any]] ?? []
            all += messages
            guard let token = page.json["nextPageToken"] as? String else { break }
            #expect(messages.count == (limit ?? 50))
            #expect(token == messages.last?["date"] as? String)
            cursor = token
        }
        return all
    }

    /// Polls until `user`'s inbox holds `count` messages.
    func waitForInbox(_ user: String, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await wholeInbox(user, limit: 1000).count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("inbox of \(user) did not reach \(count) messages")
    }
}

extension String {
    /// Whether this is a wire date: `2024-06-24T10:49:53.159123Z`.
    var isWireDate: Bool { wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z/) != nil }
}

extension String {
    var isLowercaseUUID: Bool { UUID(uuidString: self) != nil && self == lowercased() }
}
