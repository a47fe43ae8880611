import Foundation
import Synchronization
import Testing

/// SIGKILL of the real server in the middle of a large fan-out, several
/// times, then a restart: every member gets every acknowledged group message
/// exactly once, each inbox in strictly increasing date order, each copy with
/// the `sentAt` of its 202. Debug size: `MSGSTORE_FANOUT_KILL_MEMBERS`
/// (default 1,000, batches of 50); the release volume pass
/// (Tools/volume-tests.sh) runs it with 20,000 members against a release binary.
@Suite(.serialized) struct FanOutKillTests {
    static var memberCount: Int {
        ProcessInfo.processInfo.environment["MSGSTORE_FANOUT_KILL_MEMBERS"].flatMap { Int($0) } ?? 1000
    }

    /// Runs `body` for 0..<count on `lanes` concurrent tasks; returns the results in index order.
    static func concurrently<T: Sendable>(_ count: Int, lanes: Int = 16, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: [(Int, T)].self) { tasks in
            for lane in 0..<lanes {
                tasks.addTask {
                    var results: [(Int, T)] = []
                    var index = lane
                    while index < count {
                        results.append((index, try await body(index)))
                        index += lanes
                    }
                    return results
                }
            }
            var all: [(Int, T)] = []
            for try await results in tasks { all += results }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    @Test func sigkillDuringALargeFanOutDeliversEveryMemberExactlyOnce() async throws {
        let count = Self.memberCount
        let batch = max(50, count / 40)
        let seed = testSeed()
        print("FanOutKillTests: \(count) members, batches of \(batch)")
        var random = SeededGenerator(seed: seed)
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }

        // Setup without fsync (not what is under test), then a clean stop.
        let setup = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "none"])
        let setupClient = HTTPClient(baseURL: setup.baseURL)
        let users = try await Self.concurrently(count) { _ in try await setupClient.newUser() }
        let group = try await setupClient.newGroup(members: [])
        _ = try await Self.concurrently(count) { index in
            let (status, _) = try await setupClient.send("POST", "/groups/\(group)/members", json: ["userId": users[index]])
            if status != 204 { throw ServerProcessError("add member: \(status)") }
        }
        #expect(setup.stop(signal: SIGTERM) == 0)

        let arguments = ["--storage", "engine", "--sync", "always", "--fanout-batch", "\(batch)"]
        let byID = users.sorted()
        var sent: [(id: String, date: String)] = []
        for cycle in 0..<3 {
            let server = try ServerProcess(dataDirectory: data, arguments: arguments)
            let client = HTTPClient(baseURL: server.baseURL)
            for number in 0..<2 {
                let (status, body) = try await client.send("POST", "/messages/group/\(group)",
                                                           json: ["sender": users[0], "content": "cycle \(cycle) message \(number)"])
                #expect(status == 202)
                if let id = body["messageId"] as? String, let date = body["date"] as? String { sent.append((id, date)) }
            }
            // Wait for the fan-out to be under way (the first member in id order has a copy), then kill it.
            let first = byID[0]
            let newest = sent.last!.id
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let inbox = try await client.wholeInbox(first)
                if inbox.contains(where: { $0["messageId"] as? String == newest }) { break }
                try await Task.sleep(for: .milliseconds(2))
            }
            try await Task.sleep(for: .milliseconds(Int(random.next() % 40)))
            let (status, stats) = try await client.send("GET", "/admin/queues/fanout")
            #expect(status == 200)
            _ = server.stop(signal: SIGKILL)
            print("FanOutKillTests: cycle \(cycle): SIGKILL with the fan-out queue at \(stats)")
        }

        let final = try ServerProcess(dataDirectory: data, arguments: arguments)
        let client = HTTPClient(baseURL: final.baseURL)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let (status, body) = try await client.send("GET", "/admin/queues/fanout")
            #expect(status == 200)
            if body["depth"] as? Int == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let (_, stats) = try await client.send("GET", "/admin/queues/fanout")
        #expect(stats["depth"] as? Int == 0 && stats["deadLetters"] as? Int == 0, "\(stats)")
        let expected = Dictionary(uniqueKeysWithValues: sent.map { ($0.id, $0.date) })
        let problems = try await Self.concurrently(count) { index -> [String] in
            let user = users[index]
            let inbox = try await client.wholeInbox(user)
            var problems: [String] = []
            let ids = inbox.compactMap { $0["messageId"] as? String }
            if ids.count != expected.count || Set(ids) != Set(expected.keys) {
                problems.append("\(user): \(ids.count) copies, expected each of \(expected.count) once")
            }
            for entry in inbox {
                if let id = entry["messageId"] as? String, entry["sentAt"] as? String != expected[id] {
                    problems.append("\(user): sentAt of \(id) is not the 202's date")
                }
            }
            let dates = inbox.compactMap { $0["date"] as? String }
            if dates != dates.sorted() || Set(dates).count != dates.count { problems.append("\(user): dates not strictly increasing") }
            return problems
        }.flatMap { $0 }
        #expect(problems.isEmpty, "MSGSTORE_SEED=\(seed): \(problems.prefix(5))")
        #expect(final.stop(signal: SIGTERM) == 0)
        print("FanOutKillTests: 3 SIGKILLs mid-fan-out, \(sent.count) messages × \(count) members verified")
    }
}
