import Foundation
import PostgresTestSupport
import Synchronization
import Testing

/// Two real `msgstore serve --storage postgres` processes on one database (the
/// test process's throwaway PostgreSQL, ``TestPostgres``): what one server
/// accepts, the other serves; both fan out from the shared queue; a server
/// SIGKILLed mid-fan-out leaves the message to the other. Debug size: seconds.
@Suite(.serialized) struct PostgresServeTests {
    static func serve(_ url: String, _ extra: [String] = [], environment: [String: String] = [:],
                      standardError: URL? = nil) throws -> (ServerProcess, URL) {
        let data = try ServerProcess.temporaryDirectory()
        let urlArguments = environment["MSGSTORE_DATABASE_URL"] == nil ? ["--database-url", url] : []
        let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "postgres"] + urlArguments + extra,
                                       environment: environment, standardError: standardError)
        return (server, data)
    }

    static func database(_ url: String) -> String {
        String(url.split(separator: "/").last!.split(separator: "?").first!)
    }

    /// Concurrent direct and group sends through both servers while pollers read through either:
    /// every poll moves forward only, and in the end every inbox holds every message sent to it
    /// exactly once, in date order, the same through both servers. The second server takes its
    /// URL from MSGSTORE_DATABASE_URL, with a password that appears in no log line.
    @Test func twoServersOnOneDatabaseServeEveryMessageOnceInDateOrder() async throws {
        let postgres = try TestPostgres.shared()
        let url = try postgres.createDatabase()
        // Trust authentication ignores the password: it is only there to be kept out of the log.
        let secretURL = url.replacingOccurrences(of: "postgres@", with: "postgres:pa55-w0rd-x@")
        let logFile = try ServerProcess.temporaryDirectory().appendingPathComponent("stderr.log")
        let (first, firstData) = try Self.serve(secretURL, ["--fanout-batch", "7"])
        let (second, secondData) = try Self.serve(url, ["--fanout-batch", "7", "--log-level", "debug"],
                                                  environment: ["MSGSTORE_DATABASE_URL": secretURL], standardError: logFile)
        defer {
            for directory in [firstData, secondData, logFile.deletingLastPathComponent()] { try? FileManager.default.removeItem(at: directory) }
        }
        #expect(second.stdoutLines.contains { $0.contains("msgstore data: PostgreSQL postgres@127.0.0.1:\(postgres.port)/") })
        let clients = [HTTPClient(baseURL: first.baseURL), HTTPClient(baseURL: second.baseURL)]

        let users = try await FanOutKillTests.concurrently(24, lanes: 8) { index in try await clients[index % 2].newUser() }
        let group = try await clients[1].newGroup(members: Array(users.prefix(12)))
        let groupMembers = Set(users.prefix(12))

        // Pollers: follow four inboxes through alternating servers, checking that dates only move forward.
        let stop = SharedFlag()
        let pollers = (0..<4).map { index in
            Task { () -> [String] in
                let user = users[index * 3]
                var cursor: String?
                var problems: [String] = []
                var turn = index
                while !stop.isSet {
                    turn += 1
                    let query = "limit=1000" + (cursor.map { "&date=\($0)" } ?? "")
                    let (status, body) = try await clients[turn % 2].send("GET", "/messages/\(user)?\(query)")
                    if status != 200 { problems.append("GET \(status)") }
                    for message in body["messages"] as? [[String: Any]] ?? [] {
                        let date = message["date"] as? String ?? ""
                        if let cursor, date <= cursor { problems.append("\(user): \(date) after \(cursor)") }
                        cursor = date
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                return problems
            }
        }

        // 16 lanes: direct sends to random users and, every fourth, a group send; through both servers.
        let expected = SharedValue<[String: Set<String>]>([:])
        _ = try await FanOutKillTests.concurrently(160, lanes: 16) { index in
            let client = clients[index % 2]
            let sender = users[(index * 7) % 12]
            if index % 4 == 3 {
                let (status, body) = try await client.send("POST", "/messages/group/\(group)", json: ["sender": sender, "content": "g\(index)"])
                #expect(status == 202)
                let id = try #require(body["messageId"] as? String)
                expected.update { for member in groupMembers { $0[member, default: []].insert(id) } }
            } else {
                let recipient = users[(index * 5 + 1) % users.count]
                let (status, body) = try await client.send("POST", "/messages/user/\(recipient)", json: ["sender": sender, "content": "d\(index)"])
                #expect(status == 201)
                let id = try #require(body["messageId"] as? String)
                expected.update { _ = $0[recipient, default: []].insert(id) }
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let (_, stats) = try await clients[0].send("GET", "/admin/queues/fanout")
            if stats["depth"] as? Int == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(100))
        stop.set()
        var problems: [String] = []
        for poller in pollers { problems += try await poller.value }
        let wanted = expected.value
        for user in users {
            let viaFirst = try await clients[0].wholeInbox(user)
            let viaSecond = try await clients[1].wholeInbox(user)
            let ids = viaFirst.compactMap { $0["messageId"] as? String }
            if ids.count != Set(ids).count || Set(ids) != wanted[user, default: []] {
                problems.append("\(user): \(ids.count) messages, expected \(wanted[user, default: []].count) once each")
            }
            let dates = viaFirst.compactMap { $0["date"] as? String }
            if dates != dates.sorted() || Set(dates).count != dates.count { problems.append("\(user): dates not increasing") }
            if viaSecond.compactMap({ $0["messageId"] as? String }) != ids { problems.append("\(user): the servers disagree") }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        let deliveries: Int = wanted.values.map(\.count).reduce(0, +)
        #expect(deliveries == 600, "120 direct messages, 40 group messages to 12 members")
        #expect(first.stop(signal: SIGTERM) == 0)
        #expect(second.stop(signal: SIGTERM) == 0)
        let log = try String(contentsOf: logFile, encoding: .utf8)
        #expect(log.contains("database-url=postgres://postgres:<redacted>@"), "the configuration line names the URL")
        #expect(!log.contains("pa55-w0rd-x"), "the password is never logged")
    }

    /// `--storage postgres` without a URL, with a URL that is not PostgreSQL's, or with a database
    /// that cannot be reached: the server does not start, says why, and never prints the password.
    @Test func aMissingOrUnreachableDatabaseStopsTheServerWithAClearMessage() throws {
        let port = try TestPostgres.shared().port
        let cases: [([String], String)] = [
            (["serve", "--storage", "postgres"], "--storage postgres needs --database-url"),
            (["serve", "--storage", "postgres", "--database-url", "mysql://u:hunter2@h/d"], "--database-url"),
            (["serve", "--storage", "postgres", "--port", "0", "--database-url",
              "postgres://postgres:hunter2@127.0.0.1:\(port)/no_such_database?sslmode=disable"], "no_such_database"),
        ]
        for (arguments, message) in cases {
            let (status, _, errors) = try ToolOutputTests.run(arguments)
            #expect(status != 0, "\(arguments)")
            #expect(errors.contains(message), "\(arguments): \(errors.suffix(600))")
            #expect(!errors.contains("hunter2"), "\(arguments): the password is printed")
        }
    }

    /// SIGKILL of the server that is fanning a large group message out (small batches; the queue
    /// row names the holder): the other server takes the message over once the lease runs out and
    /// finishes it, every member with exactly one copy.
    @Test func aServerKilledMidFanOutIsFinishedByTheOther() async throws {
        let postgres = try TestPostgres.shared()
        let url = try postgres.createDatabase()
        let database = Self.database(url)
        let memberCount = 2000
        let arguments = ["--fanout-batch", "10", "--fanout-lease-seconds", "2", "--fanout-workers", "1"]
        var (servers, directories) = ([ServerProcess](), [URL]())
        for _ in 0..<2 {
            let (server, data) = try Self.serve(url, arguments)
            servers.append(server)
            directories.append(data)
        }
        defer { for directory in directories { try? FileManager.default.removeItem(at: directory) } }
        let clients = servers.map { HTTPClient(baseURL: $0.baseURL) }
        // The members straight into the database (thousands of HTTP calls would take a debug build long).
        let group = try await clients[0].newGroup(members: [])
        try postgres.psql(database: database, """
            INSERT INTO users (user_id) SELECT gen_random_uuid() FROM generate_series(1, \(memberCount));
            INSERT INTO members (group_id, user_id) SELECT '\(group)', user_id FROM users;
            """)
        let sender = try postgres.psql(database: database, "SELECT user_id FROM users ORDER BY user_id LIMIT 1")
        let (status, body) = try await clients[1].send("POST", "/messages/group/\(group)", json: ["sender": sender, "content": "big"])
        #expect(status == 202)
        let messageID = try #require(body["messageId"] as? String)

        // Wait until the fan-out is under way (a cursor, copies written), then kill its holder.
        var holder = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            // Under way: a cursor, and at least 50 copies written.
            let row = try postgres.psql(database: database, """
                SELECT progress || ' ' || coalesce(leased_by, '') FROM fanout_queue
                WHERE (SELECT count(*) FROM inbox WHERE message_id = '\(messageID)') >= 50
                """)
            if row.hasPrefix("1 ") { holder = String(row.dropFirst(2)); break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let victimIndex = try #require(servers.firstIndex { holder.hasSuffix("/\($0.process.processIdentifier)") }, "holder \(holder)")
        let survivor = servers[1 - victimIndex]
        _ = servers[victimIndex].stop(signal: SIGKILL)
        let copiesAtKill = Int(try postgres.psql(database: database, "SELECT count(*) FROM inbox WHERE message_id = '\(messageID)'")) ?? -1
        print("PostgresServeTests: SIGKILL of the holder with \(copiesAtKill) of \(memberCount) copies written")
        #expect(copiesAtKill >= 50 && copiesAtKill < memberCount, "killed mid-fan-out")

        let survivorClient = HTTPClient(baseURL: survivor.baseURL)
        var takenOver = false
        while Date() < deadline {
            let (_, stats) = try await survivorClient.send("GET", "/admin/queues/fanout")
            let row = try postgres.psql(database: database, "SELECT coalesce(leased_by, '') FROM fanout_queue")
            if row.hasSuffix("/\(survivor.process.processIdentifier)") { takenOver = true }
            if stats["depth"] as? Int == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let (_, stats) = try await survivorClient.send("GET", "/admin/queues/fanout")
        #expect(stats["depth"] as? Int == 0, "\(stats)")
        #expect(takenOver, "the survivor held the message after the kill")
        let counts = try postgres.psql(database: database,
                                       "SELECT count(*) || ' ' || count(DISTINCT recipient) FROM inbox WHERE message_id = '\(messageID)'")
        #expect(counts == "\(memberCount) \(memberCount)", "every member exactly one copy")
        // Through the API too, for a few members.
        let sample = try postgres.psql(database: database, "SELECT user_id FROM users ORDER BY random() LIMIT 5").split(separator: "\n")
        for member in sample {
            let inbox = try await survivorClient.wholeInbox(String(member))
            #expect(inbox.compactMap { $0["messageId"] as? String } == [messageID])
        }
        #expect(survivor.stop(signal: SIGTERM) == 0)
    }
}

/// A flag set by one task and read by others.
final class SharedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// A value shared by tasks, under a lock.
final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
}
