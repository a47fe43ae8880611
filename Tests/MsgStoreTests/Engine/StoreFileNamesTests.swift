import Testing
@testable import MsgStore

/// ``StoreFileNames``: the one place the store's file names are formatted
/// and parsed.
@Suite struct StoreFileNamesTests {
    @Test func formats() {
        #expect(StoreFileNames.log(12) == "000012.log")
        #expect(StoreFileNames.table(7) == "000007.sst")
        #expect(StoreFileNames.table(1_234_567) == "1234567.sst")
        #expect(StoreFileNames.manifest(5) == "MANIFEST-000005")
        #expect(StoreFileNames.queueSegment(1) == "000001.qlog")
        #expect(StoreFileNames.temporary(for: "/d/CURRENT") == "/d/CURRENT.tmp")
        #expect(StoreFileNames.queueDirectory("jobs", inDataDirectory: "/d") == "/d/queues/jobs")
        #expect(DurableQueue.directory(forQueue: "jobs", inDataDirectory: "/d") == "/d/queues/jobs")
    }

    @Test func parses() {
        #expect(StoreFileNames.logNumber("000012.log") == 12)
        #expect(StoreFileNames.tableNumber("1234567.sst") == 1_234_567)
        #expect(StoreFileNames.manifestNumber("MANIFEST-000005") == 5)
        #expect(StoreFileNames.queueSegmentNumber("000001.qlog") == 1)
        #expect(StoreFileNames.logNumber("000012.sst") == nil)
        #expect(StoreFileNames.tableNumber("x.sst") == nil)
        #expect(StoreFileNames.manifestNumber("MANIFEST-") == nil)
        #expect(StoreFileNames.queueSegmentNumber("+1.qlog") == nil)
        #expect(StoreFileNames.queueSegmentNumber(".qlog") == nil)
        #expect(StoreFileNames.anyNumber("000009.log") == 9)
        #expect(StoreFileNames.anyNumber("MANIFEST-000010") == 10)
        #expect(StoreFileNames.anyNumber("CURRENT") == nil)
        #expect(StoreFileNames.isTemporary("CURRENT.tmp"))
        #expect(!StoreFileNames.isTemporary(StoreFileNames.current))
    }

    @Test func roundTrips() {
        for number: UInt64 in [0, 1, 999_999, 1_000_000, UInt64(UInt32.max) + 1] {
            #expect(StoreFileNames.logNumber(StoreFileNames.log(number)) == number)
            #expect(StoreFileNames.tableNumber(StoreFileNames.table(number)) == number)
            #expect(StoreFileNames.manifestNumber(StoreFileNames.manifest(number)) == number)
            #expect(StoreFileNames.anyNumber(StoreFileNames.table(number)) == number)
        }
        for number: UInt32 in [0, 1, 999_999, .max] {
            #expect(StoreFileNames.queueSegmentNumber(StoreFileNames.queueSegment(number)) == number)
        }
    }
}
