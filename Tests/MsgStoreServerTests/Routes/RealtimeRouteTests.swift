import Foundation
import Hummingbird
import HummingbirdTesting
import Messaging
import MsgStoreServer
import NIOCore
import Synchronization
import Testing

/// Real-time delivery over HTTP: the long poll (`GET /messages/{recipient}?wait=`),
/// the event stream (`GET /messages/{recipient}/events`), the waiter limit and shutdown.
@Suite struct RealtimeRouteTests {
    /// Polls `condition` every few milliseconds until it holds (or fails the test after 10 s).
    private func eventually(_ what: String = "condition", _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private func messageIDs(_ response: TestResponse) -> [String] {
        (response.json["messages"] as? [[String: Any]] ?? []).compactMap { $0["messageId"] as? String }
    }

    // MARK: Long poll

    @Test func longPollReturnsPromptlyAfterADirectMessage() async throws {
        let server = TestServer()
        try await server.test { api in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let start = ContinuousClock.now
            async let poll = api.inbox(bob, query: "wait=10")
            try await eventually("the poll to wait") { server.notifier.waiterCount == 1 }
            let sent = try await api.send(from: alice, to: bob, "hi")
            let page = try await poll
            #expect(page.status == .ok)
            #expect(messageIDs(page) == [try #require(sent.json["messageId"] as? String)])
            #expect(ContinuousClock.now - start < .seconds(5), "woken by the send, not timed out")
        }
    }

    /// The recipient's poll and the sender's own (the fan-out writes the sender a copy too).
    @Test func longPollReturnsPromptlyAfterAGroupCopy() async throws {
        let server = TestServer()
        try await server.test { api in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let group = try await api.newGroup(members: [alice, bob])
            let start = ContinuousClock.now
            async let bobsPoll = api.inbox(bob, query: "wait=10")
            async let alicesPoll = api.inbox(alice, query: "wait=10")
            try await eventually("both polls to wait") { server.notifier.waiterCount == 2 }
            let sent = try await api.sendGroup(from: alice, to: group, "hello")
            #expect(sent.status == .accepted)
            let id = try #require(sent.json["messageId"] as? String)
            let (bobs, alices) = try await (bobsPoll, alicesPoll)
            #expect(messageIDs(bobs) == [id] && messageIDs(alices) == [id])
            #expect(ContinuousClock.now - start < .seconds(5), "woken by the fan-out, not timed out")
        }
    }

    @Test func longPollReturnsAtOnceWhenSomethingIsThere() async throws {
        try await TestServer(maxWaiters: 0).test { api in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let first = try await api.send(from: alice, to: bob, "one")
            let second = try await api.send(from: alice, to: bob, "two")
            let start = ContinuousClock.now
            let all = try await api.inbox(bob, query: "wait=60")
            let date = try #require(first.json["date"] as? String)
            let after = try await api.inbox(bob, query: "date=\(date)&wait=60&limit=1")
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(all.status == .ok && messageIDs(all).count == 2)
            let secondID = try #require(second.json["messageId"] as? String)
            #expect(after.status == .ok && messageIDs(after) == [secondID])
            // Exactly the normal page: the same bytes as without `wait`.
            #expect(after.body == (try await api.inbox(bob, query: "date=\(date)&limit=1")).body)
        }
    }

    @Test func longPollTimesOutWithAnEmptyPage() async throws {
        let server = TestServer()
        try await server.test { api in
            let bob = try await api.newUser()
            let start = ContinuousClock.now
            let page = try await api.inbox(bob, query: "wait=1")
            let elapsed = ContinuousClock.now - start
            #expect(page.status == .ok)
            #expect(String(decoding: page.body, as: UTF8.self) == #"{"messages":[]}"#)
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(4), "\(elapsed)")
            #expect(server.notifier.waiterCount == 0)
        }
    }

    @Test func badWaitIs400() async throws {
        try await TestServer().test { api in
            let bob = try await api.newUser()
            for value in ["61", "-1", "1.5", "abc", "", "%201", "%2B1", "1e1", "0x1", "9999999999", "100"] {
                let response = try await api.inbox(bob, query: "wait=\(value)")
                #expect(response.status == .badRequest, "wait=\(value)")
                #expect(response.errorCode == "bad_request" && response.errorMessage.contains("wait"), "wait=\(value)")
            }
            for value in ["0", "00"] {
                #expect(try await api.inbox(bob, query: "wait=\(value)").status == .ok, "wait=\(value)")
            }
            // A bad wait of an unknown recipient is still a 400 (checked before anything is read).
            #expect(try await api.inbox(UUID().uuidString, query: "wait=x").status == .badRequest)
            #expect(try await api.inbox(UUID().uuidString, query: "wait=5").status == .notFound)
        }
    }

    // MARK: The waiter limit

    @Test func beyondTheWaiterLimitIs503WithRetryAfter() async throws {
        let server = TestServer(maxWaiters: 1)
        try await server.test { api in
            let alice = try await api.newUser(), bob = try await api.newUser()
            async let poll = api.inbox(alice, query: "wait=10")
            try await eventually("the first poll to wait") { server.notifier.waiterCount == 1 }
            for uri in ["/messages/\(bob)?wait=5", "/messages/\(bob)/events"] {
                let refused = try await api.request(.get, uri)
                #expect(refused.status == .serviceUnavailable, "\(uri)")
                #expect(refused.errorCode == "unavailable" && refused.errorMessage.contains("waiting"), "\(uri)")
                #expect(refused.headers[.retryAfter] == "5", "\(uri)")
                #expect(refused.headers[.contentType] == "application/json; charset=utf-8")
            }
            // A poll that does not wait needs no slot.
            #expect(try await api.inbox(bob).status == .ok)
            _ = try await api.send(from: bob, to: alice, "release")
            #expect(messageIDs(try await poll).count == 1)
            #expect(server.notifier.waiterCount == 0)
            #expect(try await api.inbox(bob, query: "wait=0").status == .ok)
        }
    }

    // MARK: Shutdown

    @Test func shutdownReleasesLongPollsAndEndsStreams() async throws {
        let server = TestServer()
        try await server.test { api in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let sent = try await api.send(from: alice, to: bob, "before")
            let date = try #require(sent.json["date"] as? String)
            async let poll = api.inbox(bob, query: "date=\(date)&wait=30")
            async let stream = api.request(.get, "/messages/\(bob)/events")
            try await eventually("the poll and the stream to wait") { server.notifier.waiterCount == 2 }
            let start = ContinuousClock.now
            server.notifier.shutDown()
            let (page, events) = try await (poll, stream)
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(page.status == .ok && messageIDs(page).isEmpty)
            #expect(events.status == .ok)
            let text = String(decoding: events.body, as: UTF8.self)
            #expect(text.hasPrefix("id: \(date)\ndata: {"), "the stream sent what it had, then ended: \(text)")
            #expect(server.notifier.waiterCount == 0)
            // After shutdown nothing waits: a long poll answers at once.
            let again = ContinuousClock.now
            #expect(try await api.inbox(bob, query: "date=\(date)&wait=30").status == .ok)
            #expect(ContinuousClock.now - again < .seconds(2))
        }
    }

    // MARK: Event stream

    @Test func eventStreamErrors() async throws {
        try await TestServer().test { api in
            let bob = try await api.newUser()
            #expect(try await api.request(.get, "/messages/\(UUID().uuidString)/events").status == .notFound)
            #expect(try await api.request(.get, "/messages/nope/events").status == .badRequest)
            #expect(try await api.request(.get, "/messages/\(bob)/events?date=yesterday").status == .badRequest)
            var headers = HTTPFields()
            headers[try #require(.init("Last-Event-ID"))] = "42"
            let badID = try await api.client.execute(uri: "/messages/\(bob)/events", method: .get, headers: headers) { $0 }
            #expect(badID.status == .badRequest)
            #expect(String(buffer: badID.body).contains("Last-Event-ID"))
            let post = try await api.request(.post, "/messages/\(bob)/events")
            #expect(post.status == .methodNotAllowed && post.headers[.allow] == "GET")
        }
    }

    /// Messages already there and new ones, direct and group, in date order;
    /// each event's `id` is the message's date and its `data` the very JSON
    /// of the message in an inbox page.
    @Test func eventStreamDeliversInDateOrderWithTheInboxJSON() async throws {
        try await TestServer().testLive { api, port in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let group = try await api.newGroup(members: [alice, bob])
            for number in 0..<3 { _ = try await api.send(from: alice, to: bob, "before \(number)") }
            let stream = try await EventStreamClient.connect(port: port, path: "/messages/\(bob)/events")
            defer { stream.close() }
            #expect(stream.status == 200)
            #expect(stream.headers["content-type"] == "text/event-stream; charset=utf-8")
            #expect(stream.headers["cache-control"] == "no-cache")
            for number in 0..<3 {
                _ = try await api.send(from: alice, to: bob, "after \"\(number)\"\nline")
                _ = try await api.sendGroup(from: alice, to: group, "group \(number)")
            }
            var events: [ServerSentEvent] = []
            while events.count < 9, let event = try await stream.nextEvent() { events.append(event) }
            let page = try await api.inbox(bob, query: "limit=1000")
            let pageText = String(decoding: page.body, as: UTF8.self)
            let ids = events.compactMap(\.id)
            #expect(ids.count == 9 && ids == ids.sorted() && Set(ids).count == 9, "date order")
            #expect(events.map { $0.json?["date"] as? String } == ids, "id is the message's date")
            #expect(events.map { $0.json?["messageId"] as? String } == messageIDs(page), "the stream is the inbox")
            for event in events {
                #expect(pageText.contains(try #require(event.data)), "data is the message's JSON as in the page")
            }
        }
    }

    /// A client that drops the stream and reconnects with `Last-Event-ID` (and a
    /// `date` that would repeat everything, which the header overrides) while
    /// messages keep coming gets each message exactly once, in order.
    @Test func reconnectWithLastEventIDMissesNothingAndRepeatsNothing() async throws {
        try await TestServer().testLive { api, port in
            let reader = try await api.newUser()
            var senders: [String] = []
            for _ in 0..<3 { senders.append(try await api.newUser()) }
            let group = try await api.newGroup(members: [reader] + senders)
            let perSender = 12
            let expected = senders.count * perSender
            let sending = Task { [senders] in
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for sender in senders {
                        tasks.addTask {
                            for number in 0..<perSender {
                                let response =
                                    number % 3 == 0
                                    ? try await api.sendGroup(from: sender, to: group, "g\(number)")
                                    : try await api.send(from: sender, to: reader, "d\(number)")
                                #expect(response.status == .created || response.status == .accepted)
                                try await Task.sleep(for: .milliseconds(Int.random(in: 1...4)))
                            }
                        }
                    }
                    try await tasks.waitForAll()
                }
            }
            var events: [ServerSentEvent] = []
            let first = try await EventStreamClient.connect(port: port, path: "/messages/\(reader)/events")
            while events.count < expected / 3, let event = try await first.nextEvent() { events.append(event) }
            first.close()
            try await Task.sleep(for: .milliseconds(30))
            let lastID = try #require(events.last?.id)
            let second = try await EventStreamClient.connect(
                port: port, path: "/messages/\(reader)/events?date=1970-01-01T00:00:00Z", headers: ["Last-Event-ID": lastID])
            defer { second.close() }
            while events.count < expected, let event = try await second.nextEvent() { events.append(event) }
            try await sending.value
            let ids = events.compactMap { $0.json?["messageId"] as? String }
            #expect(ids.count == expected && Set(ids).count == expected, "nothing missed, nothing repeated")
            let dates = events.compactMap(\.id)
            #expect(dates == dates.sorted())
            let inbox = try await api.wholeInbox(reader, limit: 1000).compactMap { $0["messageId"] as? String }
            #expect(ids == inbox)
            // Nothing more comes: the next thing on the stream is not an event.
            await #expect(throws: EventStreamClient.Failure.self) { _ = try await second.nextEvent(timeout: .milliseconds(300)) }
        }
    }

    @Test func idleStreamGetsKeepaliveComments() async throws {
        try await TestServer(keepaliveInterval: .milliseconds(200)).testLive { api, port in
            let bob = try await api.newUser()
            let stream = try await EventStreamClient.connect(port: port, path: "/messages/\(bob)/events")
            defer { stream.close() }
            let start = ContinuousClock.now
            for _ in 0..<2 {
                let block = try #require(try await stream.next(timeout: .seconds(5)))
                #expect(block.comments == ["keepalive"] && block.id == nil && block.data == nil)
            }
            #expect(ContinuousClock.now - start >= .milliseconds(300))
        }
    }

    // MARK: Latency

    /// Send-to-delivery latency to a client waiting on an event stream, through
    /// the HTTP server (in-process, debug build; `Tools/realtime-latency.py`
    /// measures a release server): from just before each `POST` to the arrival
    /// of its event. Sends one at a time; prints p50/p99.
    @Test func sendToDeliveryLatencyOverHTTP() async throws {
        try await TestServer().testLive { api, port in
            let alice = try await api.newUser(), bob = try await api.newUser()
            let stream = try await EventStreamClient.connect(port: port, path: "/messages/\(bob)/events")
            defer { stream.close() }
            let count = 200
            let arrivals = Task {
                var arrivals: [String: ContinuousClock.Instant] = [:]
                while arrivals.count < count, let event = try await stream.nextEvent() {
                    arrivals[try #require(event.json?["messageId"] as? String)] = ContinuousClock.now
                }
                return arrivals
            }
            var sentAt: [String: ContinuousClock.Instant] = [:]
            for number in 0..<count {
                let start = ContinuousClock.now
                let sent = try await api.send(from: alice, to: bob, "m\(number)")
                sentAt[try #require(sent.json["messageId"] as? String)] = start
            }
            let arrived = try await arrivals.value
            let latencies = try sentAt.map { id, start in try #require(arrived[id]) - start }.sorted()
            #expect(latencies.count == count)
            let p50 = latencies[count / 2], p99 = latencies[count * 99 / 100]
            print("send-to-delivery latency over HTTP (debug, in-process, in-memory storage, \(count) sends): p50 \(p50), p99 \(p99)")
            #expect(p99 < .seconds(2))
        }
    }
}
