import Foundation
import Testing

/// A real `msgstore serve` whose data directory sits on a small tmpfs that
/// fills up: sends answer 503 (never 500), reads and `/health` keep
/// answering (health: 503 with the reason), and after space returns and the
/// server restarts, writes resume with every acknowledged message present.
///
/// Mounting needs root (CI and the development machines run as root); the
/// test fails, rather than skips, where it cannot mount.
@Suite(.serialized) struct DiskFullTests {
    static func shell(_ command: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try? process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func aFullDiskRefusesSendsKeepsReadsAndLosesNothing() async throws {
        let mountPoint = try ServerProcess.temporaryDirectory()
        #expect(Self.shell("mount -t tmpfs -o size=12m msgstore-test \(mountPoint.path)") == 0,
                "cannot mount a tmpfs (needs root)")
        defer {
            _ = Self.shell("umount -l \(mountPoint.path)")
            try? FileManager.default.removeItem(at: mountPoint)
        }
        let data = mountPoint.appendingPathComponent("data")
        let arguments = ["--storage", "engine", "--sync", "always", "--wal-segment-mib", "1", "--memtable-budget-mib", "4"]
        var server = try ServerProcess(dataDirectory: data, arguments: arguments)
        var client = HTTPClient(baseURL: server.baseURL)
        let sender = try await client.newUser()
        let recipient = try await client.newUser()

        // Fill the disk with 32 KiB messages of random letters (compression
        // cannot make them vanish) until a send is refused (bounded).
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var random = SeededGenerator(seed: testSeed())
        var acknowledged: [String] = []
        var refusal: (Int, [String: Any])?
        for i in 0..<2_000 {
            let content = String((0..<(32 << 10)).map { _ in letters.randomElement(using: &random)! })
            let (status, body) = try await client.send("POST", "/messages/user/\(recipient)", json: ["sender": sender, "content": "\(i) \(content)"])
            if status == 201, let id = body["messageId"] as? String {
                acknowledged.append(id)
            } else {
                refusal = (status, body)
                break
            }
        }
        let (status, body) = try #require(refusal, "the disk never filled")
        #expect(status == 503, "a full disk answers 503, not \(status): \(body)")
        #expect(body["error"] as? String == "unavailable")
        #expect(acknowledged.count > 100)

        // Reads go on; health says what is wrong; sends keep being refused with 503.
        let inbox = try await client.wholeInbox(recipient)
        #expect(Set(inbox.compactMap { $0["messageId"] as? String }) == Set(acknowledged))
        let (health, healthBody) = try await client.send("GET", "/health")
        #expect(health == 503, "health: \(health) \(healthBody)")
        for _ in 0..<3 {
            let (again, _) = try await client.send("POST", "/messages/user/\(recipient)", json: ["sender": sender, "content": "more"])
            #expect(again == 503)
        }

        // Space returns; after a restart writes resume and nothing acknowledged is lost.
        #expect(Self.shell("mount -o remount,size=256m \(mountPoint.path)") == 0)
        _ = server.stop(signal: SIGKILL)
        server = try ServerProcess(dataDirectory: data, arguments: arguments)
        client = HTTPClient(baseURL: server.baseURL)
        let (resumed, resumedBody) = try await client.send("POST", "/messages/user/\(recipient)", json: ["sender": sender, "content": "after"])
        #expect(resumed == 201, "\(resumedBody)")
        let (healthAfter, _) = try await client.send("GET", "/health")
        #expect(healthAfter == 200)
        let after = try await client.wholeInbox(recipient).compactMap { $0["messageId"] as? String }
        #expect(Set(acknowledged).isSubset(of: Set(after)), "acknowledged messages lost: \(Set(acknowledged).subtracting(after).count)")
        #expect(after.count == Set(after).count, "a message appears twice")
        #expect(server.stop(signal: SIGTERM) == 0)
    }
}
