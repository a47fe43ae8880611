import Foundation
import Hummingbird
import MsgStoreServer
import Testing

/// `GET /metrics`: Prometheus text format, the documented names, figures that move.
@Suite struct MetricsTests {
    /// `name{labels} value` lines of an exposition, by series (name with labels).
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    @Test func theExpositionHasEveryFamilyAndItsFiguresMove() async throws {
        try await TestServer().test { api in
            let first = try await api.request(.get, "/metrics")
            #expect(first.status == .ok)
            #expect(first.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let before = Self.samples(String(decoding: first.body, as: UTF8.self))

            let alice = try await api.newUser()
            let bob = try await api.newUser()
            #expect(try await api.send(from: alice, to: bob).status == .created)
            let group = try await api.newGroup(members: [alice, bob])
            #expect(try await api.sendGroup(from: alice, to: group).status == .accepted)
            try await api.waitForInbox(bob, count: 2)
            // The lag is recorded once the message is acknowledged, just after its copies are readable.
            var text = ""
            for _ in 0..<200 {
                text = String(decoding: try await api.request(.get, "/metrics").body, as: UTF8.self)
                if (Self.samples(text)["msgstore_fanout_lag_seconds_count"] ?? 0) >= 1 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let after = Self.samples(text)
            for family in ["msgstore_http_requests_total", "msgstore_http_request_duration_seconds", "msgstore_fanout_lag_seconds",
                           "msgstore_fanout_queue_depth", "msgstore_fanout_queue_in_flight", "msgstore_fanout_queue_oldest_age_seconds",
                           "msgstore_fanout_queue_dead_letters", "msgstore_fanout_messages_total", "msgstore_fanout_copies_total",
                           "msgstore_http_connections_open", "msgstore_realtime_waiters"] {
                #expect(text.contains("# TYPE \(family) "), "\(family) missing")
            }
            #expect(text.contains("# HELP msgstore_http_requests_total "))
            let sends = #"msgstore_http_requests_total{method="POST",route="/messages/user/{recipient}",status="201"}"#
            #expect(before[sends] == nil && after[sends] == 1, "one direct send counted by route pattern, not raw path")
            #expect(after[#"msgstore_http_requests_total{method="POST",route="/users",status="201"}"#] == 2)
            #expect((after[#"msgstore_http_request_duration_seconds_count{method="POST",route="/users"}"#] ?? 0) == 2)
            #expect(after["msgstore_fanout_lag_seconds_count"] == 1)
            #expect((after["msgstore_fanout_copies_total"] ?? 0) >= 1)
            #expect(after["msgstore_fanout_messages_total"] == 1)
            #expect(after["msgstore_fanout_queue_depth"] == 0)
            // No raw ids in any label: the series stay bounded however many users there are.
            #expect(!text.contains(bob) && !text.contains(group))
            // An unknown path is counted as unmatched.
            _ = try await api.request(.get, "/no/such/\(bob)")
            let last = Self.samples(String(decoding: try await api.request(.get, "/metrics").body, as: UTF8.self))
            #expect(last[#"msgstore_http_requests_total{method="GET",route="unmatched",status="404"}"#] == 1)
        }
    }
}
