// A small program the crash tests start and kill with SIGKILL.
//
//   MsgStoreTestHelper store-writer DIR WRITERS ROWS [small]
//       opens a store in DIR (sync always), and WRITERS threads each write
//       batches of ROWS rows forever; after each batch is acknowledged it
//       prints "ack <batch id>" on stdout (unbuffered). With `small`, tiny
//       memtables and levels keep flushes and compactions running.
//
//   MsgStoreTestHelper volume DIR ENTRIES
//       loads ENTRIES entries, settles, and checks peak RSS against the budgets.
#if canImport(Glibc)
import Glibc
#endif
import MsgStore

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: MsgStoreTestHelper store-writer DIR WRITERS ROWS [small]")
    exit(2)
}

switch arguments[1] {
case "store-writer":
    runStoreWriter(Array(arguments.dropFirst(2)))
case "volume":
    runVolume(Array(arguments.dropFirst(2)))
default:
    print("unknown scenario \(arguments[1])")
    exit(2)
}
