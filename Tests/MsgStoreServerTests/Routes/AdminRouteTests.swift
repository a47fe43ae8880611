import Foundation
import Hummingbird
import Testing

@Suite struct AdminRouteTests {
    @Test func fanOutQueueCountersAndRedrive() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let group = try await api.newGroup(members: [alice])
            #expect(try await api.sendGroup(from: alice, to: group).status == .accepted)
            try await api.waitForInbox(alice, count: 1)
            let stats = try await api.request(.get, "/admin/queues/fanout")
            #expect(stats.status == .ok)
            #expect(stats.json["deadLetters"] as? Int == 0 && stats.json["deadLetteredTotal"] as? Int == 0)
            #expect(stats.json["depth"] as? Int != nil && stats.json["inFlight"] as? Int != nil)
            let redrive = try await api.request(.post, "/admin/queues/fanout/redrive")
            #expect(redrive.status == .ok && redrive.json["redriven"] as? Int == 0)
            #expect(try await api.request(.get, "/admin/queues/fanout/redrive").status == .methodNotAllowed)
        }
    }
}
