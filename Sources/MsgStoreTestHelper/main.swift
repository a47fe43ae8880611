// A small program the crash tests start and kill with SIGKILL, and the
// release-mode volume tests run (Tools/volume-tests.sh).
//
//   MsgStoreTestHelper store-writer DIR WRITERS ROWS [small]
//       opens a store in DIR (sync always), and WRITERS threads each write
//       batches of ROWS rows forever; after each batch is acknowledged it
//       prints "ack <batch id>" on stdout (unbuffered). With `small`, tiny
//       memtables and levels keep flushes and compactions running.
//
//   MsgStoreTestHelper volume DIR ENTRIES
//       loads ENTRIES entries, settles, and checks peak RSS against the budgets.
//
//   MsgStoreTestHelper queue-volume DIR RECORDS
//       enqueues and acks RECORDS records durably; disk use must return to near empty.
//
//   MsgStoreTestHelper queue-…   the durable queue's scenarios (QueueScenario.swift)
#if canImport(Glibc)
import Glibc
#endif
import MsgStore

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: MsgStoreTestHelper store-writer|volume|queue-volume|queue-… ARGS")
    exit(2)
}

switch arguments[1] {
case "store-writer":
    runStoreWriter(Array(arguments.dropFirst(2)))
case "volume":
    runVolume(Array(arguments.dropFirst(2)))
case "queue-volume":
    await runQueueVolume(Array(arguments.dropFirst(2)))
case let scenario where scenario.hasPrefix("queue-"):
    await QueueScenario.run(Array(arguments.dropFirst()))
default:
    print("unknown scenario \(arguments[1])")
    exit(2)
}
