import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Real-time delivery in the real `msgstore serve`: waiting clients and shutdown.
@Suite(.serialized) struct RealtimeTests {
    /// SIGTERM while a long poll waits (`wait=60`) and an event stream is open:
    /// both are released at once (the poll answers an empty page, the stream
    /// ends), and the server exits 0 well within its 7 s shutdown budget.
    @Test func sigtermReleasesWaitingClientsPromptly() async throws {
        let data = try ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let server = try ServerProcess(dataDirectory: data)
        let client = HTTPClient(baseURL: server.baseURL)
        let bob = try await client.newUser()

        let poll = Task { () -> (Int, Int?) in
            let (status, body) = try await client.send("GET", "/messages/\(bob)?wait=60")
            return (status, (body["messages"] as? [Any])?.count)
        }
        let stream = Task { () -> (Int, String?, Data) in
            let request = URLRequest(url: URL(string: "/messages/\(bob)/events", relativeTo: server.baseURL)!)
            let (body, response) = try await client.session.data(for: request)
            let http = response as? HTTPURLResponse
            return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Content-Type"), body)
        }
        // Time for both to arrive and wait (if they had not, they would fail below, not pass).
        try await Task.sleep(for: .seconds(1))

        let started = Date()
        #expect(server.stop(signal: SIGTERM) == 0)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 4, "released at once, not after the 7 s budget: \(elapsed) s")
        let (pollStatus, pollMessages) = try await poll.value
        #expect(pollStatus == 200 && pollMessages == 0, "the poll answered an empty page")
        let (streamStatus, contentType, _) = try await stream.value
        #expect(streamStatus == 200 && contentType == "text/event-stream; charset=utf-8", "the stream ended")
    }
}
