import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One client cannot take the server down by holding connections open.
@Suite(.serialized) struct ConnectionLimitTests {
    /// Opens a TCP connection to 127.0.0.1:`port` and leaves it idle; nil if refused.
    private static func idleConnection(port: Int) -> Int32? {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socketFD)
            return nil
        }
        return socketFD
    }

    /// Regression: under a 512-descriptor limit, ~700 idle connections and a
    /// send load killed the server (SIGILL in libdispatch once descriptors ran
    /// out). Now connections beyond the cap are closed at once: the server stays
    /// up, and once the idle clients leave, sends answer 201 and /health 200.
    @Test func moreIdleClientsThanDescriptorsDoNotTakeTheServerDown() async throws {
        let directory = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(dataDirectory: directory, descriptorLimit: 256)
        let client = HTTPClient(baseURL: server.baseURL)
        let alice = try await client.newUser()
        let bob = try await client.newUser()

        // A send load runs while one client opens more idle connections than the server has descriptors.
        let load = Task {
            var answered = 0
            for _ in 0..<60 {
                if let (status, _) = try? await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "x"]),
                    status == 201 || status == 503 { answered += 1 }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return answered
        }
        var idle: [Int32] = []
        for _ in 0..<400 {
            if let fd = Self.idleConnection(port: server.port) { idle.append(fd) }
        }
        _ = await load.value
        // Beyond the cap a connection gets an answer at once: it is closed (the old server
        // left it in the kernel's backlog, unanswered, for as long as the idle clients stayed).
        let probe = try #require(Self.idleConnection(port: server.port))
        _ = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".withCString { write(probe, $0, strlen($0)) }
        var probeFD = pollfd(fd: probe, events: Int16(POLLIN), revents: 0)
        #expect(poll(&probeFD, 1, 3_000) == 1, "a connection over the cap hangs instead of being closed")
        close(probe)
        #expect(server.process.isRunning, "the server died under \(idle.count) idle connections")
        for fd in idle { close(fd) }

        // Once the idle clients leave, the server answers again.
        var sent = false
        var healthy = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !(sent && healthy) && server.process.isRunning {
            if !sent, let (status, _) = try? await client.send("POST", "/messages/user/\(bob)", json: ["sender": alice, "content": "after"]) {
                sent = status == 201
            }
            if !healthy, let (status, _) = try? await client.send("GET", "/health") { healthy = status == 200 }
            if !(sent && healthy) { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(sent && healthy, "sent \(sent), healthy \(healthy), running \(server.process.isRunning)")
        let inbox = try await client.wholeInbox(bob)
        #expect(inbox.contains { $0["content"] as? String == "after" })
        #expect(server.stop(signal: SIGTERM) == 0)
    }

    /// A request that never finishes arriving (slowloris) is cut off after the
    /// request read timeout; an idle connection after the idle timeout.
    @Test func slowAndIdleClientsAreCutOff() async throws {
        let directory = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(
            dataDirectory: directory, arguments: ["--request-timeout-seconds", "1", "--idle-timeout-seconds", "2"])
        let slow = try #require(Self.idleConnection(port: server.port))
        let idle = try #require(Self.idleConnection(port: server.port))
        defer { close(slow); close(idle) }
        let head = "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        _ = head.withCString { write(slow, $0, strlen($0)) }
        func closedByServer(_ fd: Int32, within seconds: Double) -> Bool {
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if poll(&pollFD, 1, 100) > 0 {
                    var byte: UInt8 = 0
                    return read(fd, &byte, 1) <= 0
                }
            }
            return false
        }
        let start = Date()
        #expect(closedByServer(slow, within: 5), "the unfinished request's connection is closed")
        #expect(Date().timeIntervalSince(start) >= 0.9)
        #expect(closedByServer(idle, within: 5), "the idle connection is closed")
        let (status, _) = try await HTTPClient(baseURL: server.baseURL).send("GET", "/health")
        #expect(status == 200)
        #expect(server.stop(signal: SIGTERM) == 0)
    }
}
