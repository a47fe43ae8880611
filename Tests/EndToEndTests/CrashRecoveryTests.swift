import Foundation
import Synchronization
import Testing

/// `kill -9` during concurrent load, then restart on the same data directory,
/// several times over: every acknowledged direct message is present once,
/// every acknowledged group message is delivered once to every member, and
/// dates after each restart are greater than every date before it. Finally
/// SIGTERM exits 0.
@Suite(.serialized) struct CrashRecoveryTests {
    struct Acknowledged: Sendable {
        var direct: [(messageID: String, sender: String, recipient: String)] = []
        var group: [String] = []
        var latestDate = ""
    }

    final class AcknowledgedBox: Sendable {
        let state = Mutex(Acknowledged())
    }

    static let cycles = 3

    @Test func sigkillDuringConcurrentLoadLosesNothingAcknowledged() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let acknowledged = AcknowledgedBox()
        var users: [String] = []
        var groups: [String] = []
        for cycle in 0..<Self.cycles {
            let server = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "always"])
            #expect(!server.servesFromMemory, "serve must use the engine")
            let client = HTTPClient(baseURL: server.baseURL)
            if cycle == 0 {
                for _ in 0..<8 { users.append(try await client.newUser()) }
                groups.append(try await client.newGroup(members: users))
                groups.append(try await client.newGroup(members: Array(users.prefix(4))))
            } else {
                // Dates after a restart are greater than every date acknowledged before it.
                let before = acknowledged.state.withLock { $0.latestDate }
                let (status, body) = try await client.send("POST", "/messages/user/\(users[1])", json: ["sender": users[0], "content": "after restart \(cycle)"])
                #expect(status == 201)
                let date = body["date"] as? String ?? ""
                #expect(date > before, "cycle \(cycle): date \(date) after restart is not after \(before)")
                if status == 201, let id = body["messageId"] as? String {
                    acknowledged.state.withLock { $0.direct.append((id, users[0], users[1])); $0.latestDate = max($0.latestDate, date) }
                }
            }
            let fixedUsers = users, fixedGroups = groups
            // Load from 8 concurrent clients, then SIGKILL mid-load.
            let load = Task {
                await withTaskGroup(of: Void.self) { tasks in
                    for worker in 0..<8 {
                        tasks.addTask {
                            var step = 0
                            while true {
                                step += 1
                                let sender = fixedUsers[(worker + step) % 4]  // members of both groups
                                let recipient = fixedUsers[(worker + step + 1) % fixedUsers.count]
                                let isGroup = step % 3 == 0
                                let path = isGroup ? "/messages/group/\(fixedGroups[step % 2])" : "/messages/user/\(recipient)"
                                guard let (status, body) = try? await client.send("POST", path, json: ["sender": sender, "content": "c\(cycle)-w\(worker)-\(step)"]),
                                      let id = body["messageId"] as? String, let date = body["date"] as? String
                                else { return }  // the server is gone
                                acknowledged.state.withLock { acked in
                                    if isGroup, status == 202 { acked.group.append(id) }
                                    if !isGroup, status == 201 { acked.direct.append((id, sender, recipient)) }
                                    acked.latestDate = max(acked.latestDate, date)
                                }
                            }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(1200 + 300 * cycle))
            _ = server.stop(signal: SIGKILL)
            await load.value
        }
        let acked = acknowledged.state.withLock { $0 }
        #expect(acked.direct.count > 0 && acked.group.count > 0)

        let final = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "always"])
        let after = HTTPClient(baseURL: final.baseURL)
        // Wait until every acknowledged group message reached every member of its group.
        let deadline = Date().addingTimeInterval(30)
        var inboxes: [String: [[String: Any]]] = [:]
        var groupOf: [String: String] = [:]
        repeat {
            for user in users { inboxes[user] = try await after.wholeInbox(user) }
            for entries in inboxes.values {
                for entry in entries { if let id = entry["messageId"] as? String, let group = entry["groupId"] as? String { groupOf[id] = group } }
            }
            let complete = acked.group.allSatisfy { id in
                guard let group = groupOf[id] else { return false }
                let members = group == groups[0] ? users : Array(users.prefix(4))
                return members.allSatisfy { user in inboxes[user, default: []].contains { $0["messageId"] as? String == id } }
            }
            if complete { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline

        for user in users {
            let ids = inboxes[user, default: []].compactMap { $0["messageId"] as? String }
            var counts: [String: Int] = [:]
            for id in ids { counts[id, default: 0] += 1 }
            #expect(counts.values.allSatisfy { $0 == 1 }, "no message twice in \(user)'s inbox")
            for id in acked.group {
                let members = groupOf[id] == groups[1] ? Array(users.prefix(4)) : users
                if members.contains(user) { #expect(counts[id] == 1, "group message \(id) delivered once to \(user)") }
            }
            for message in acked.direct where message.recipient == user {
                #expect(counts[message.messageID] == 1, "direct message \(message.messageID) present once")
            }
            let dates = inboxes[user, default: []].compactMap { $0["date"] as? String }
            #expect(dates == dates.sorted() && Set(dates).count == dates.count, "\(user)'s inbox is in strictly increasing date order")
        }
        #expect(final.stop(signal: SIGTERM) == 0, "SIGTERM exits 0")
        print("e2e crash test: \(Self.cycles) kill cycles, \(acked.direct.count) direct and \(acked.group.count) group messages acknowledged and verified")
    }
}
