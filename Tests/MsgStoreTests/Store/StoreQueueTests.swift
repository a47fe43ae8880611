import Foundation
import Testing
@testable import MsgStore

/// The durable queues as a store holds them: `queues/NAME/`, stats, closing, inspect and verify.
@Suite struct StoreQueueTests {
    @Test func queuesLiveInTheDataDirectoryAndSurviveReopen() async throws {
        let directory = TestDirectory()
        do {
            let store = try TestSchema.open(directory)
            let queue = try store.queue(named: "fanout")
            #expect(try store.queue(named: "fanout") === queue)
            _ = try await queue.enqueue(batch: [bytes("one"), bytes("two"), bytes("three")])
            let first = try await queue.receive(max: 1)
            try await queue.ack(first)
            #expect(store.queueStatistics["fanout"]?.depth == 2)
            #expect(store.queueStatistics["fanout"]?.ackedTotal == 1)
            try await store.close()
        }
        #expect(FileManager.default.fileExists(atPath: directory.file("queues/fanout")))
        let inspection = try DirectoryInspection.inspect(path: directory.path)
        #expect(inspection.queues.contains { $0.name == "fanout" && $0.depth == 2 })
        #expect(StoreVerifier.verify(path: directory.path).isSound)

        let store = try TestSchema.open(directory)
        let queue = try store.queue(named: "fanout")
        let messages = try await queue.receive(max: 10)
        #expect(messages.map(\.payload) == [bytes("two"), bytes("three")])
        try (store.close as () throws -> Void)()  // the synchronous close also closes the queue
        #expect(throws: StoreError.self) { _ = try store.queue(named: "other") }
    }

    @Test func badQueueNamesAreRefused() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        for name in ["", "../x", "a/b", ".hidden", String(repeating: "q", count: 65)] {
            #expect { _ = try store.queue(named: name) } throws: { ($0 as! StoreError).code == .invalidArgument }
        }
        try store.close()
    }

    @Test func verifyFindsADamagedQueueSegment() async throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        let queue = try store.queue(named: "jobs")
        _ = try await queue.enqueue(batch: (0..<50).map { bytes("job \($0) with some payload bytes") })
        try await store.close()
        let queueDirectory = directory.file("queues/jobs")
        let segment = try FileManager.default.contentsOfDirectory(atPath: queueDirectory).filter { $0.hasSuffix(".qlog") }.sorted()[0]
        let path = queueDirectory + "/" + segment
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[100] ^= 0x20
        try data.write(to: URL(fileURLWithPath: path))
        let report = StoreVerifier.verify(path: directory.path)
        #expect(report.problems.contains { $0.file == path && $0.offset != nil })
        let single = StoreVerifier.verify(path: path)
        #expect(!single.isSound)
    }
}
