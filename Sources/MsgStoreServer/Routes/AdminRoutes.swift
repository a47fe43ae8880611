import Hummingbird
import Messaging

/// `GET /admin/queues/fanout` and `POST /admin/queues/fanout/redrive`: the
/// fan-out queue's counters, and putting its dead letters back in the queue.
struct AdminRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService

    func register(on router: Router<Context>) {
        router.get("/admin/queues/fanout") { _, _ in
            let stats = try await service.fanOutQueueStatistics()
            return try JSONResponse.make(status: .ok, body: FanOutQueueBody(stats))
        }
        router.post("/admin/queues/fanout/redrive") { _, _ in
            let moved = try await service.redriveGroupMessages()
            return try JSONResponse.make(status: .ok, body: RedriveBody(redriven: moved))
        }
    }
}

/// `{"depth", "inFlight", "deadLetters", "deadLetteredTotal"}`.
struct FanOutQueueBody: Encodable {
    var depth: Int
    var inFlight: Int
    var deadLetters: Int
    var deadLetteredTotal: UInt64

    init(_ stats: FanOutQueueStatistics) {
        depth = stats.depth
        inFlight = stats.inFlight
        deadLetters = stats.deadLetters
        deadLetteredTotal = stats.deadLetteredTotal
    }
}

/// `{"redriven": n}`.
struct RedriveBody: Encodable {
    var redriven: Int
}
