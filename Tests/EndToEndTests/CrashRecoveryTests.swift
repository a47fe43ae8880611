import Foundation
import Synchronization
import Testing

/// `kill -9` during concurrent load, then restart on the same data directory:
/// every acknowledged direct message is present once, every acknowledged group
/// message is delivered once to every member, and dates after the restart are
/// greater than every date before it.
///
/// STATUS: needs the engine-backed `MessagingStorage` (see
/// `makeEngineMessagingStorage`). While `serve --storage engine` still falls back
/// to memory, this test prints SKIPPED and returns.
@Suite(.serialized) struct CrashRecoveryTests {
    struct Acknowledged: Sendable {
        var direct: [(messageID: String, sender: String, recipient: String)] = []
        var group: [String] = []
        var latestDate = ""
    }

    final class AcknowledgedBox: Sendable {
        let state = Mutex(Acknowledged())
    }

    @Test func sigkillDuringConcurrentLoadLosesNothingAcknowledged() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let first = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "always"])
        if first.servesFromMemory {
            print("SKIPPED sigkillDuringConcurrentLoadLosesNothingAcknowledged: engine storage is not available in this build")
            _ = first.stop(signal: SIGKILL)
            return
        }
        let client = HTTPClient(baseURL: first.baseURL)
        var newUsers: [String] = []
        for _ in 0..<6 { newUsers.append(try await client.newUser()) }
        let users = newUsers
        let group = try await client.newGroup(members: users)
        let acknowledged = AcknowledgedBox()

        // Load for ~2 s from 8 concurrent clients, then SIGKILL mid-load.
        let loadUntil = Date().addingTimeInterval(2)
        let load = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for worker in 0..<8 {
                    tasks.addTask {
                        var step = 0
                        while Date() < loadUntil + 5 {
                            step += 1
                            let sender = users[(worker + step) % users.count]
                            let recipient = users[(worker + step + 1) % users.count]
                            let isGroup = step % 3 == 0
                            let path = isGroup ? "/messages/group/\(group)" : "/messages/user/\(recipient)"
                            guard let (status, body) = try? await client.send("POST", path, json: ["sender": sender, "content": "w\(worker)-\(step)"]),
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
        try await Task.sleep(for: .seconds(2))
        _ = first.stop(signal: SIGKILL)
        await load.value
        let acked = acknowledged.state.withLock { $0 }
        #expect(acked.direct.count + acked.group.count > 0)

        let second = try ServerProcess(dataDirectory: data, arguments: ["--storage", "engine", "--sync", "always"])
        defer { _ = second.stop(signal: SIGTERM) }
        let after = HTTPClient(baseURL: second.baseURL)
        // Wait until every acknowledged group message reached every member.
        let deadline = Date().addingTimeInterval(30)
        var inboxes: [String: [[String: Any]]] = [:]
        repeat {
            for user in users { inboxes[user] = try await after.wholeInbox(user) }
            let complete = users.allSatisfy { user in
                let ids = Set(inboxes[user, default: []].compactMap { $0["messageId"] as? String })
                return acked.group.allSatisfy(ids.contains)
            }
            if complete { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline

        for user in users {
            let ids = inboxes[user, default: []].compactMap { $0["messageId"] as? String }
            var counts: [String: Int] = [:]
            for id in ids { counts[id, default: 0] += 1 }
            #expect(counts.values.allSatisfy { $0 == 1 }, "no message twice in \(user)'s inbox")
            for id in acked.group { #expect(counts[id] == 1, "group message \(id) delivered once to \(user)") }
            for message in acked.direct where message.recipient == user {
                #expect(counts[message.messageID] == 1, "direct message \(message.messageID) present once")
            }
        }
        let alice = users[0]
        let (status, body) = try await after.send("POST", "/messages/user/\(users[1])", json: ["sender": alice, "content": "after"])
        #expect(status == 201)
        #expect((body["date"] as? String ?? "") > acked.latestDate, "dates after restart are greater")
    }
}
