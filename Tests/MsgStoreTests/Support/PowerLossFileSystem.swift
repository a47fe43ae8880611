#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
@testable import MsgStore
@testable import MsgStoreTestHelper

/// An in-memory file system that models the operating system's page cache, so
/// that tests can cut the power at any moment and see what a real disk could
/// hold afterwards (LevelDB's `FaultInjectionTestEnv`, Pebble's `vfs.NewCrashableMem`,
/// ALICE-style crash states). Nothing touches the real disk.
///
/// ## The model
///
/// **File data.** Every file (inode) has *durable* content (what is on the
/// platter) and *live* content (what programs read: durable content plus the
/// volatile writes and truncations made since the last sync, kept in order).
/// ``MsgStore/StorageFile/sync()`` is `fdatasync`: it makes the file's live
/// content and size durable, and nothing else (not its directory entry).
///
/// **Directory entries.** Each path is bound to an inode twice: in the *live*
/// namespace (what `open`, `exists`, `contentsOfDirectory` see) and in the
/// *durable* namespace. A create, rename or remove changes only the live
/// namespace until ``syncDirectory(_:)`` of the directory holding the entry,
/// which copies that directory's live entries to the durable namespace.
/// Directories themselves are durable as soon as they are created (the engine
/// never relies on syncing a directory's parent).
///
/// **Power loss** (``powerLoss(seed:mode:)``). The machine dies: the durable
/// namespace becomes the namespace (an unsynced create disappears, an unsynced
/// rename is reverted, an unsynced remove is undone), and each file reachable
/// from it keeps its durable content plus — depending on ``LossMode`` — some
/// of its volatile writes:
/// - ``LossMode/anyPages`` (default): every 4 KiB page written since the last
///   sync independently ends up in *any* of the states it passed through
///   (from untouched to the newest), in any order relative to the other pages,
///   and a kept page may be *torn* (only a prefix of it, sector- or
///   byte-aligned, reached the disk). The file's size is any of the sizes it
///   had since the last sync; bytes past it are cut, bytes never written read
///   as zeros.
/// - ``LossMode/inOrder``: a prefix of the volatile operations, in order, the
///   last one possibly torn (a file system that writes back in order).
/// - ``LossMode/dropAll``: only synced data survives.
/// - ``LossMode/keepAll``: everything survives (a process crash, not a power cut).
///
/// After a power loss every handle and lock taken before it is dead: its
/// operations fail with `EIO` (a lock's `unlock` does nothing), and the
/// volatile state is empty (live == durable).
///
/// **Sync boundaries.** Every successful file sync and directory sync is a
/// *sync boundary*, numbered from 1 (``syncBoundaries``). A test can
/// - ``freeze(afterSyncBoundary:)``: the machine dies right after boundary k
///   (that sync completes and is durable; every later operation throws `EIO`
///   and changes nothing), then call ``powerLoss(seed:mode:)``; or
/// - ``captureForks(at:_:)``: at chosen boundaries, take a ``fork()`` of the
///   whole machine state (cheap: copy-on-write pages) while the program keeps
///   running — the fork is exactly the disk a machine dying at that moment
///   would leave, once ``powerLoss(seed:mode:)`` is applied to it.
///
/// **Injected faults** (``inject(_:)``): chosen operations fail with an
/// `errno` (`EIO`, `ENOSPC`, `EMFILE`, …) reported like ``PosixFileSystem``
/// does, as ``StoreError`` with code ``StoreError/Code/io`` (a failed write
/// may first write a prefix of its bytes). A failed operation changes nothing
/// else, except that a failed sync leaves the volatile writes volatile.
///
/// Invariants: live == durable for every file and entry right after a power
/// loss; a sync boundary is counted only when the sync succeeded; bytes of a
/// file past its size are never visible; thread-safe (one lock; every operation
/// is atomic with respect to the others).
final class PowerLossFileSystem: FileSystem {
    static let pageSize = 4096

    /// What survives of the volatile writes at a power loss (see the type's documentation).
    enum LossMode: Sendable, CaseIterable, CustomStringConvertible {
        case anyPages, inOrder, dropAll, keepAll
        var description: String {
            switch self {
            case .anyPages: "anyPages"
            case .inOrder: "inOrder"
            case .dropAll: "dropAll"
            case .keepAll: "keepAll"
            }
        }
    }

    /// Kinds of operations, for fault injection and statistics.
    enum Operation: Sendable, Hashable, CaseIterable {
        /// `open` of an existing file (`.read`, `.readWrite`, or a `.create`/`.createTruncate` of one that exists).
        case open
        /// `open` that creates the file.
        case create
        case read, write, sync, truncate, size, close
        case rename, remove, syncDirectory, list, fileSize, createDirectory, lock
    }

    /// An injected failure: operations in `operations` on paths accepted by
    /// `paths`, at logical time ≥ `fromTime`, after `skip` such operations
    /// succeeded, fail with `errno` — `count` times (nil: every time from then on).
    struct Fault: Sendable {
        var operations: Set<Operation>
        var paths: @Sendable (String) -> Bool = { _ in true }
        var fromTime: Int = 0
        var skip: Int = 0
        var count: Int? = 1
        var errno: Int32 = EIO
        /// For writes: write a random-length prefix of the bytes before failing (a short write).
        var partialWrite = false

        /// Fails the `n`th (1-based, counted from now) operation of `kind`.
        static func nth(_ kind: Operation, _ n: Int, errno: Int32 = EIO) -> Fault {
            Fault(operations: [kind], skip: n - 1, count: 1, errno: errno)
        }

        /// Fails every operation of `kinds` from now on.
        static func always(_ kinds: Set<Operation>, errno: Int32 = EIO) -> Fault {
            Fault(operations: kinds, count: nil, errno: errno)
        }

        /// Fails operations of `kinds` on paths ending in `suffix`, from logical time `time` on.
        static func onSuffix(_ suffix: String, _ kinds: Set<Operation>, fromTime time: Int, errno: Int32 = EIO) -> Fault {
            Fault(operations: kinds, paths: { $0.hasSuffix(suffix) }, fromTime: time, count: nil, errno: errno)
        }
    }

    /// A file's content in 4 KiB pages (copy-on-write per page, so forks are cheap).
    /// Invariant: bytes at or past `size` inside a stored page are zero; pages
    /// past `pages.count` read as zeros.
    struct FileData {
        static let zeroPage = [UInt8](repeating: 0, count: PowerLossFileSystem.pageSize)
        var pages: [[UInt8]] = []
        var size = 0

        func page(_ index: Int) -> [UInt8] { index < pages.count ? pages[index] : Self.zeroPage }

        mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
            guard bytes.count > 0 else { return }
            let pageSize = PowerLossFileSystem.pageSize
            let end = offset + bytes.count
            var position = offset
            while position < end {
                let index = position / pageSize
                let inPage = position % pageSize
                let length = min(pageSize - inPage, end - position)
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[(position - offset)..<(position - offset + length)])
                if index >= pages.count && chunk.allSatisfy({ $0 == 0 }) {
                    // Zeros past the stored pages: nothing to store.
                } else {
                    while pages.count <= index { pages.append(Self.zeroPage) }
                    pages[index].withUnsafeMutableBytes { page in
                        page.baseAddress!.advanced(by: inPage).copyMemory(from: chunk.baseAddress!, byteCount: length)
                    }
                }
                position += length
            }
            size = max(size, end)
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
            guard offset < size, buffer.count > 0 else { return 0 }
            let pageSize = PowerLossFileSystem.pageSize
            let end = min(size, offset + buffer.count)
            var position = offset
            while position < end {
                let index = position / pageSize
                let inPage = position % pageSize
                let length = min(pageSize - inPage, end - position)
                let target = buffer.baseAddress!.advanced(by: position - offset)
                if index < pages.count {
                    pages[index].withUnsafeBytes { target.copyMemory(from: $0.baseAddress!.advanced(by: inPage), byteCount: length) }
                } else {
                    target.initializeMemory(as: UInt8.self, repeating: 0, count: length)
                }
                position += length
            }
            return end - offset
        }

        mutating func truncate(to newSize: Int) {
            let pageSize = PowerLossFileSystem.pageSize
            if newSize < size {
                let keep = (newSize + pageSize - 1) / pageSize
                if pages.count > keep { pages.removeSubrange(keep...) }
                let cut = newSize % pageSize
                if cut != 0, keep - 1 < pages.count {
                    _ = pages[keep - 1].withUnsafeMutableBytes { page in
                        page.baseAddress!.advanced(by: cut).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize - cut)
                    }
                }
            }
            size = newSize
        }

        /// Replaces page `index` with `bytes` (a full page), keeping the invariant.
        mutating func setPage(_ index: Int, _ bytes: [UInt8]) {
            let pageSize = PowerLossFileSystem.pageSize
            guard index * pageSize < size else { return }
            while pages.count <= index { pages.append(Self.zeroPage) }
            var page = bytes
            let valid = size - index * pageSize
            if valid < pageSize {
                _ = page.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: valid).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize - valid) }
            }
            pages[index] = page
        }

        var bytes: [UInt8] {
            var result = [UInt8](repeating: 0, count: size)
            _ = result.withUnsafeMutableBytes { read(into: $0, at: 0) }
            return result
        }
    }

    /// A volatile change to a file's data.
    enum PendingOperation {
        case write(offset: Int, bytes: [UInt8])
        case truncate(size: Int)
    }

    struct Inode {
        var durable = FileData()
        var live = FileData()
        /// Changes since the last sync, oldest first (live == durable + these).
        var pending: [PendingOperation] = []
    }

    /// The machine's storage and page cache: what ``fork()`` copies.
    struct Disk {
        var inodes: [Int: Inode] = [:]
        var nextInode = 1
        /// Path → inode as programs see it.
        var live: [String: Int] = [:]
        /// Path → inode as it would be found after a power loss.
        var durable: [String: Int] = [:]
        var directories: Set<String> = ["/"]
    }

    /// Counters of what happened (for tests' own statistics and assertions).
    struct Counters: Sendable {
        var operations: [Operation: Int] = [:]
        var injectedFailures = 0
        var powerLosses = 0
    }

    private struct State {
        var disk = Disk()
        /// Incremented by each power loss: handles and locks of an older epoch are dead.
        var epoch = 0
        var locks: [String: Int] = [:]
        var nextLockToken = 1
        /// Open handles (of this epoch) per inode.
        var openCounts: [Int: Int] = [:]
        var syncBoundaries = 0
        var freezeAfter: Int?
        var frozen = false
        var faults: [(fault: Fault, seen: Int, failed: Int)] = []
        /// Logical time: every operation advances it by one.
        var time = 0
        var counters = Counters()
        var captureAt: Set<Int> = []
        var captureAll = false
        var onCapture: (@Sendable (_ boundary: Int, _ fork: PowerLossFileSystem) -> Void)?
        var faultRandom = SplitMix(seed: 0x5EED)
        var tracing = false
        var trace: [String] = []
    }

    private let state: Mutex<State>

    /// Operations held at the door (see ``pause(_:paths:)``).
    private struct Gate {
        var operations: Set<Operation> = []
        var paths: (@Sendable (String) -> Bool)?
        var waiting = 0
    }
    private let gate = Mutex(Gate())

    /// What a hold predicate (``hold(while:timeout:)``) sees: the operation about
    /// to run, and the previous operation of the same thread.
    struct HoldContext: Sendable {
        let operation: Operation
        let path: String
        let previousOperation: Operation?
        let previousPath: String?
    }

    private struct Holding {
        var predicate: (@Sendable (HoldContext) -> Bool)?
        var timeout: Double = 5
        var timeouts = 0
        /// The last operation of each thread (by `pthread_self`).
        var previous: [UInt: (Operation, String)] = [:]
    }
    private let holding = Mutex(Holding())

    init() { state = Mutex(State()) }

    private init(disk: Disk) { state = Mutex(State(disk: disk)) }

    // MARK: Test controls

    /// Records every sync boundary and file creation from now on (see ``syncTrace``).
    func traceSyncs() { state.withLock { $0.tracing = true } }

    /// The paths synced at each boundary since ``traceSyncs()`` (a directory
    /// ends in "/"), and the files created ("+path"): to find where two runs of
    /// one seed part ways.
    var syncTrace: [String] { state.withLock { $0.trace } }

    /// Sync boundaries so far (successful file and directory syncs).
    var syncBoundaries: Int { state.withLock { $0.syncBoundaries } }

    /// Logical time: operations so far.
    var time: Int { state.withLock { $0.time } }

    /// Whether the machine is frozen (dead, awaiting ``powerLoss(seed:mode:)``).
    var isFrozen: Bool { state.withLock { $0.frozen } }

    var counters: Counters { state.withLock { $0.counters } }

    /// The machine dies right after sync boundary `boundary` (≥ 1) completes.
    func freeze(afterSyncBoundary boundary: Int) {
        state.withLock { state in
            state.freezeAfter = boundary
            if state.syncBoundaries >= boundary { state.frozen = true }
        }
    }

    /// The machine dies now.
    func freeze() { state.withLock { $0.frozen = true } }

    /// Holds every later operation of `operations` on a path accepted by
    /// `paths` (the calling thread waits, before the operation does anything)
    /// until ``resume()``: to make the engine's threads interleave a chosen way.
    func pause(_ operations: Operation..., paths: @escaping @Sendable (String) -> Bool = { _ in true }) {
        gate.withLock { gate in
            gate.operations = Set(operations)
            gate.paths = paths
        }
    }

    /// Lets paused operations go.
    func resume() { gate.withLock { $0.operations = []; $0.paths = nil } }

    /// Threads waiting at the gate now.
    var pausedCount: Int { gate.withLock { $0.waiting } }

    /// Before every operation, while `predicate` holds for it (re-evaluated
    /// every 0.1 ms, for at most `timeout` seconds), the calling thread waits.
    /// The predicate runs without the file system's lock; it may take the
    /// caller's own locks. Tests use it to make the engine's threads take
    /// turns (see `PowerLossHistory`).
    func hold(while predicate: (@Sendable (HoldContext) -> Bool)?, timeout: Double = 5) {
        holding.withLock { $0.predicate = predicate; $0.timeout = timeout }
    }

    /// Holds that ended by time-out (the predicate never released the thread).
    var holdTimeouts: Int { holding.withLock { $0.timeouts } }

    private func passGate(_ operation: Operation, _ path: String) {
        waitAtGate(operation, path)
        let thread = UInt(pthread_self())
        let (predicate, timeout, previous) = holding.withLock { ($0.predicate, $0.timeout, $0.previous[thread]) }
        if let predicate {
            let context = HoldContext(operation: operation, path: path, previousOperation: previous?.0, previousPath: previous?.1)
            let deadline = CommitClock.monotonicMicroseconds() + Int64(timeout * 1_000_000)
            while predicate(context) {
                if CommitClock.monotonicMicroseconds() > deadline {
                    holding.withLock { $0.timeouts += 1 }
                    break
                }
                usleep(100)
            }
        }
        holding.withLock { $0.previous[thread] = (operation, path) }
    }

    private func waitAtGate(_ operation: Operation, _ path: String) {
        var counted = false
        while true {
            let blocked = gate.withLock { gate in
                let blocked = gate.operations.contains(operation) && (gate.paths?(path) ?? true)
                if blocked && !counted { gate.waiting += 1; counted = true }
                if !blocked && counted { gate.waiting -= 1 }
                return blocked
            }
            if !blocked { return }
            usleep(200)
        }
    }

    /// Adds an injected failure.
    func inject(_ fault: Fault) { state.withLock { $0.faults.append((fault, 0, 0)) } }

    /// Removes every injected failure.
    func clearFaults() { state.withLock { $0.faults.removeAll() } }

    /// At each boundary in `boundaries` (or every boundary, if nil), calls
    /// `body` with a fork of the machine taken atomically right after that
    /// sync. `body` runs with the file system's lock held, on whatever thread
    /// synced: it must be quick and must not call this file system.
    func captureForks(at boundaries: Set<Int>?, _ body: @escaping @Sendable (_ boundary: Int, _ fork: PowerLossFileSystem) -> Void) {
        state.withLock { state in
            state.captureAt = boundaries ?? []
            state.captureAll = boundaries == nil
            state.onCapture = body
        }
    }

    /// Stops capturing forks.
    func stopCapturing() { state.withLock { $0.onCapture = nil; $0.captureAt = []; $0.captureAll = false } }

    /// A copy of the machine as it is now (durable and volatile state; no
    /// handles, locks, faults or counters), independent of this one.
    func fork() -> PowerLossFileSystem { state.withLock { PowerLossFileSystem(disk: $0.disk) } }

    /// What a power loss leaves: see the type's documentation. Kills every
    /// handle and lock, unfreezes the machine, clears faults and the freeze
    /// point. Returns a description of what was lost (for failure messages).
    @discardableResult
    func powerLoss(seed: UInt64, mode: LossMode = .anyPages) -> String {
        state.withLock { state in
            var random = SplitMix(seed: seed)
            var notes: [String] = []
            var disk = state.disk
            var inodes: [Int: Inode] = [:]
            for id in Set(disk.durable.values) {
                guard var inode = disk.inodes[id] else { continue }
                if !inode.pending.isEmpty {
                    let before = inode.live.size
                    inode.durable = Self.survivor(of: inode, mode: mode, random: &random)
                    if inode.durable.size != before || mode != .keepAll {
                        let names = disk.durable.filter { $0.value == id }.map(\.key).sorted()
                        notes.append("\(names.joined(separator: ",")): \(inode.pending.count) volatile ops, live \(before) → \(inode.durable.size) bytes")
                    }
                }
                inode.live = inode.durable
                inode.pending = []
                inodes[id] = inode
            }
            for (path, id) in disk.live where disk.durable[path] != id {
                notes.append("entry \(path) (unsynced) \(disk.durable[path] == nil ? "removed" : "reverted")")
            }
            for (path, _) in disk.durable where disk.live[path] == nil {
                notes.append("entry \(path) (unsynced remove) restored")
            }
            disk.inodes = inodes
            disk.live = disk.durable
            state.disk = disk
            state.epoch += 1
            state.locks = [:]
            state.openCounts = [:]
            state.frozen = false
            state.freezeAfter = nil
            state.faults = []
            state.counters.powerLosses += 1
            return "power loss (\(mode)): " + (notes.isEmpty ? "nothing volatile" : notes.sorted().joined(separator: "; "))
        }
    }

    /// A process crash: handles and locks die, the page cache (all volatile
    /// writes and entries) stays. Unfreezes.
    func processCrash() {
        state.withLock { state in
            state.epoch += 1
            state.locks = [:]
            state.openCounts = [:]
            state.frozen = false
            state.freezeAfter = nil
        }
    }

    /// The durable content of a live path (nil if missing), for tests of the simulator.
    func durableBytes(_ path: String) -> [UInt8]? {
        state.withLock { state in
            guard let id = state.disk.durable[path] else { return nil }
            return state.disk.inodes[id]?.durable.bytes
        }
    }

    /// A fingerprint of the machine's *shape*: its files in creation order,
    /// each with its live and durable names (digits left out: which of two
    /// threads took which file number does not matter), durable and live
    /// size, and volatile operations' offsets and lengths — not the bytes
    /// (commit timestamps make those differ from run to run). Two runs that
    /// reach the same shape lose the same things to
    /// ``powerLoss(seed:mode:)`` with the same seed.
    func shape() -> UInt64 {
        state.withLock { state in
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            func mix(_ value: Int) {
                for shift in stride(from: 0, to: 64, by: 8) {
                    hash = (hash ^ UInt64(truncatingIfNeeded: value >> shift) & 0xFF) &* 0x0000_0100_0000_01B3
                }
            }
            func mix(_ text: String) { for byte in text.utf8 where !(48...57).contains(byte) { mix(Int(byte)) } }
            var live: [Int: [String]] = [:], durable: [Int: [String]] = [:]
            for (path, id) in state.disk.live { live[id, default: []].append(path) }
            for (path, id) in state.disk.durable { durable[id, default: []].append(path) }
            for id in Set(live.keys).union(durable.keys).sorted() {
                mix(-3)
                for path in (live[id] ?? []).sorted() { mix(path) }
                mix(-4)
                for path in (durable[id] ?? []).sorted() { mix(path) }
                guard let inode = state.disk.inodes[id] else { continue }
                mix(inode.durable.size)
                mix(inode.live.size)
                for operation in inode.pending {
                    switch operation {
                    case .write(let offset, let bytes): mix(offset); mix(bytes.count)
                    case .truncate(let size): mix(-2); mix(size)
                    }
                }
            }
            return hash
        }
    }

    /// Live names and sizes under `directory` (for failure messages).
    func listing(_ directory: String) -> String {
        state.withLock { state in
            state.disk.live.filter { Self.parent(of: $0.key) == directory }
                .map { "\(Self.name(of: $0.key)):\(state.disk.inodes[$0.value]?.live.size ?? -1)" }
                .sorted().joined(separator: " ")
        }
    }

    /// What survives of one file's volatile operations.
    private static func survivor(of inode: Inode, mode: LossMode, random: inout SplitMix) -> FileData {
        let pageSize = Self.pageSize
        switch mode {
        case .dropAll:
            return inode.durable
        case .keepAll:
            return inode.live
        case .inOrder:
            var data = inode.durable
            let kept = Int.random(in: 0...inode.pending.count, using: &random)
            for (position, operation) in inode.pending.enumerated() where position <= kept {
                switch operation {
                case .write(let offset, let bytes):
                    // The operation after the last kept one may be torn: a prefix of it.
                    let length = position < kept ? bytes.count : Int.random(in: 0...bytes.count, using: &random)
                    bytes.withUnsafeBytes { data.write(UnsafeRawBufferPointer(rebasing: $0[..<length]), at: offset) }
                case .truncate(let size):
                    if position < kept { data.truncate(to: size) }
                }
            }
            return data
        case .anyPages:
            // Replay the operations, recording every state of every page touched.
            var work = inode.durable
            var versions: [Int: [[UInt8]]] = [:]
            var sizes = [work.size]
            for operation in inode.pending {
                let touched: Range<Int>
                switch operation {
                case .write(let offset, let bytes):
                    touched = bytes.isEmpty ? 0..<0 : (offset / pageSize)..<((offset + bytes.count + pageSize - 1) / pageSize)
                case .truncate(let size):
                    let low = min(size, work.size), high = max(size, work.size)
                    touched = (low / pageSize)..<((high + pageSize - 1) / pageSize)
                }
                for page in touched where versions[page] == nil { versions[page] = [work.page(page)] }
                switch operation {
                case .write(let offset, let bytes): bytes.withUnsafeBytes { work.write($0, at: offset) }
                case .truncate(let size): work.truncate(to: size)
                }
                for page in touched { versions[page]!.append(work.page(page)) }
                sizes.append(work.size)
            }
            var data = inode.durable
            data.truncate(to: sizes.randomElement(using: &random)!)
            for (page, states) in versions.sorted(by: { $0.key < $1.key }) {
                let chosen = Int.random(in: 0..<states.count, using: &random)
                guard chosen > 0 else { continue }
                var bytes = states[chosen]
                if Int.random(in: 0..<4, using: &random) == 0 {
                    // Torn: only a prefix of the page (whole sectors, or any byte) reached the disk.
                    let cut = Bool.random(using: &random) ? 512 * Int.random(in: 0...8, using: &random) : Int.random(in: 0...pageSize, using: &random)
                    let original = states[0]
                    bytes.replaceSubrange(cut..., with: original[cut...])
                }
                data.setPage(page, bytes)
            }
            return data
        }
    }

    // MARK: Paths

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func normalize(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    // MARK: The common prologue of every operation

    /// Counts the operation, and throws if the machine is frozen or a fault fires.
    /// REQUIRES: the lock held (called inside `state.withLock`).
    private static func begin(_ state: inout State, _ operation: Operation, _ path: String, name: String) throws {
        state.time += 1
        state.counters.operations[operation, default: 0] += 1
        if state.frozen {
            throw StoreError.io("\(name) (machine is down)", file: path, errno: EIO)
        }
        for index in state.faults.indices {
            let fault = state.faults[index].fault
            guard fault.operations.contains(operation), state.time >= fault.fromTime, fault.paths(path) else { continue }
            state.faults[index].seen += 1
            guard state.faults[index].seen > fault.skip else { continue }
            if let count = fault.count, state.faults[index].failed >= count { continue }
            state.faults[index].failed += 1
            state.counters.injectedFailures += 1
            throw InjectedFailure(errno: fault.errno, partialWrite: fault.partialWrite)
        }
    }

    private struct InjectedFailure: Error {
        let errno: Int32
        let partialWrite: Bool
    }

    /// Converts an injected failure into the error ``PosixFileSystem`` would report.
    private static func report(_ error: any Error, _ name: String, _ path: String) -> any Error {
        guard let injected = error as? InjectedFailure else { return error }
        return StoreError.io("\(name) (injected)", file: path, errno: injected.errno)
    }

    /// Counts a successful sync; freezes or captures at the chosen boundaries. REQUIRES: the lock held.
    private static func syncBoundary(_ state: inout State, _ path: String) {
        state.syncBoundaries += 1
        if state.tracing { state.trace.append(path) }
        let boundary = state.syncBoundaries
        if let capture = state.onCapture, state.captureAll || state.captureAt.contains(boundary) {
            capture(boundary, PowerLossFileSystem(disk: state.disk))
        }
        if let freezeAfter = state.freezeAfter, boundary >= freezeAfter { state.frozen = true }
    }

    // MARK: FileSystem

    func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        let path = Self.normalize(path)
        let creating = (mode == .create || mode == .createTruncate) && state.withLock { $0.disk.live[path] == nil }
        passGate(creating ? .create : .open, path)
        return try state.withLock { state in
            let exists = state.disk.live[path] != nil
            let creates = !exists && (mode == .create || mode == .createTruncate)
            do {
                try Self.begin(&state, creates ? .create : .open, path, name: "open")
            } catch {
                throw Self.report(error, "open", path)
            }
            let id: Int
            if let existing = state.disk.live[path] {
                id = existing
                if mode == .createTruncate, state.disk.inodes[id]!.live.size > 0 {
                    state.disk.inodes[id]!.live.truncate(to: 0)
                    state.disk.inodes[id]!.pending.append(.truncate(size: 0))
                }
            } else {
                guard mode == .create || mode == .createTruncate else {
                    throw StoreError(.notFound, "no such file", file: path, errno: ENOENT)
                }
                guard state.disk.directories.contains(Self.parent(of: path)) else {
                    throw StoreError.io("open", file: path, errno: ENOENT)
                }
                id = state.disk.nextInode
                state.disk.nextInode += 1
                state.disk.inodes[id] = Inode()
                state.disk.live[path] = id
                if state.tracing { state.trace.append("+" + path) }
            }
            state.openCounts[id, default: 0] += 1
            return Handle(owner: self, path: path, inode: id, epoch: state.epoch, writable: mode != .read)
        }
    }

    func exists(_ path: String) -> Bool {
        let path = Self.normalize(path)
        return state.withLock { $0.disk.live[path] != nil || $0.disk.directories.contains(path) }
    }

    func rename(_ source: String, to destination: String) throws {
        let source = Self.normalize(source), destination = Self.normalize(destination)
        passGate(.rename, source)
        try state.withLock { state in
            do { try Self.begin(&state, .rename, source, name: "rename to \(destination)") } catch {
                throw Self.report(error, "rename to \(destination)", source)
            }
            guard let id = state.disk.live[source] else {
                throw StoreError.io("rename to \(destination)", file: source, errno: ENOENT)
            }
            guard state.disk.directories.contains(Self.parent(of: destination)) else {
                throw StoreError.io("rename to \(destination)", file: source, errno: ENOENT)
            }
            state.disk.live[source] = nil
            state.disk.live[destination] = id
        }
    }

    func remove(_ path: String) throws {
        let path = Self.normalize(path)
        passGate(.remove, path)
        try state.withLock { state in
            do { try Self.begin(&state, .remove, path, name: "unlink") } catch { throw Self.report(error, "unlink", path) }
            guard state.disk.live.removeValue(forKey: path) != nil else {
                throw StoreError(.notFound, "no such file", file: path, errno: ENOENT)
            }
            Self.collect(&state)
        }
    }

    /// Drops inodes that no name (live or durable) and no open handle reaches.
    private static func collect(_ state: inout State) {
        let reachable = Set(state.disk.live.values).union(state.disk.durable.values).union(state.openCounts.keys)
        if reachable.count < state.disk.inodes.count {
            state.disk.inodes = state.disk.inodes.filter { reachable.contains($0.key) }
        }
    }

    func createDirectory(_ path: String) throws {
        let path = Self.normalize(path)
        try state.withLock { state in
            do { try Self.begin(&state, .createDirectory, path, name: "mkdir") } catch { throw Self.report(error, "mkdir", path) }
            var current = path
            var missing: [String] = []
            while !state.disk.directories.contains(current) && current != "/" && current != "." {
                if state.disk.live[current] != nil { throw StoreError.io("mkdir", file: current, errno: EEXIST) }
                missing.append(current)
                current = Self.parent(of: current)
            }
            for directory in missing { state.disk.directories.insert(directory) }
        }
    }

    func syncDirectory(_ path: String) throws {
        let path = Self.normalize(path)
        passGate(.syncDirectory, path)
        try state.withLock { state in
            do { try Self.begin(&state, .syncDirectory, path, name: "fsync directory") } catch {
                throw Self.report(error, "fsync directory", path)
            }
            guard state.disk.directories.contains(path) else {
                throw StoreError.io("open directory", file: path, errno: ENOENT)
            }
            let names = Set(state.disk.live.keys).union(state.disk.durable.keys).filter { Self.parent(of: $0) == path }
            for name in names { state.disk.durable[name] = state.disk.live[name] }
            Self.collect(&state)
            Self.syncBoundary(&state, path + "/")
        }
    }

    func contentsOfDirectory(_ path: String) throws -> [String] {
        let path = Self.normalize(path)
        return try state.withLock { state in
            do { try Self.begin(&state, .list, path, name: "opendir") } catch { throw Self.report(error, "opendir", path) }
            guard state.disk.directories.contains(path) else {
                throw StoreError(.notFound, "no such directory", file: path, errno: ENOENT)
            }
            let files = state.disk.live.keys.filter { Self.parent(of: $0) == path }.map(Self.name(of:))
            let directories = state.disk.directories.filter { $0 != path && Self.parent(of: $0) == path }.map(Self.name(of:))
            return files + directories
        }
    }

    func fileSize(_ path: String) throws -> Int64 {
        let path = Self.normalize(path)
        return try state.withLock { state in
            do { try Self.begin(&state, .fileSize, path, name: "stat") } catch { throw Self.report(error, "stat", path) }
            guard let id = state.disk.live[path] else { throw StoreError(.notFound, "no such file", file: path, errno: ENOENT) }
            return Int64(state.disk.inodes[id]!.live.size)
        }
    }

    func lock(_ path: String) throws -> any FileLock {
        let path = Self.normalize(path)
        return try state.withLock { state in
            do { try Self.begin(&state, .lock, path, name: "flock") } catch { throw Self.report(error, "flock", path) }
            if state.disk.live[path] == nil {
                guard state.disk.directories.contains(Self.parent(of: path)) else {
                    throw StoreError.io("open lock file", file: path, errno: ENOENT)
                }
                let id = state.disk.nextInode
                state.disk.nextInode += 1
                state.disk.inodes[id] = Inode()
                state.disk.live[path] = id
            }
            if state.locks[path] != nil {
                throw StoreError(.locked, "the data directory is in use by another process (LOCK is held)", file: path, errno: EWOULDBLOCK)
            }
            let token = state.nextLockToken
            state.nextLockToken += 1
            state.locks[path] = token
            return Lock(owner: self, path: path, token: token)
        }
    }

    // MARK: Handles

    final class Lock: FileLock {
        let owner: PowerLossFileSystem
        let path: String
        let token: Int
        init(owner: PowerLossFileSystem, path: String, token: Int) {
            self.owner = owner
            self.path = path
            self.token = token
        }
        func unlock() {
            owner.state.withLock { state in
                if state.locks[path] == token { state.locks[path] = nil }
            }
        }
    }

    final class Handle: MsgStore.StorageFile {
        let owner: PowerLossFileSystem
        let path: String
        let inode: Int
        let epoch: Int
        let writable: Bool
        private let closed = Atomic<Bool>(false)

        init(owner: PowerLossFileSystem, path: String, inode: Int, epoch: Int, writable: Bool) {
            self.owner = owner
            self.path = path
            self.inode = inode
            self.epoch = epoch
            self.writable = writable
        }

        /// Runs `body` on the inode after the common checks; a sync boundary after it if `syncs`.
        private func withInode<T: Sendable>(
            _ operation: Operation, _ name: String, syncs: Bool = false, _ body: (inout Inode) throws -> T
        ) throws -> T {
            owner.passGate(operation, path)
            return try owner.state.withLock { state in
                do { try PowerLossFileSystem.begin(&state, operation, path, name: name) } catch let error as InjectedFailure {
                    if error.partialWrite { throw error }
                    throw PowerLossFileSystem.report(error, name, path)
                }
                if closed.load(ordering: .relaxed) { throw StoreError.io(name, file: path, errno: EBADF) }
                guard state.epoch == epoch, var node = state.disk.inodes[inode] else {
                    throw StoreError.io("\(name) (handle opened before a power loss)", file: path, errno: EIO)
                }
                let result = try body(&node)
                state.disk.inodes[inode] = node
                if syncs { PowerLossFileSystem.syncBoundary(&state, path) }
                return result
            }
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            do {
                try withInode(.write, "pwrite") { node in
                    guard writable else { throw StoreError.io("pwrite", file: path, errno: EBADF) }
                    node.live.write(bytes, at: Int(offset))
                    node.pending.append(.write(offset: Int(offset), bytes: Array(bytes)))
                }
            } catch let error as InjectedFailure {
                // A short write: some prefix of the bytes lands (volatile), then the error.
                owner.state.withLock { state in
                    guard state.epoch == epoch, var node = state.disk.inodes[inode] else { return }
                    let length = Int.random(in: 0..<max(bytes.count, 1), using: &state.faultRandom)
                    let prefix = UnsafeRawBufferPointer(rebasing: bytes[..<min(length, bytes.count)])
                    node.live.write(prefix, at: Int(offset))
                    node.pending.append(.write(offset: Int(offset), bytes: Array(prefix)))
                    state.disk.inodes[inode] = node
                }
                throw PowerLossFileSystem.report(error, "pwrite", path)
            }
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try withInode(.read, "pread") { node in node.live.read(into: buffer, at: Int(offset)) }
        }

        func sync() throws {
            try withInode(.sync, "fdatasync", syncs: true) { node in
                node.durable = node.live
                node.pending = []
            }
        }

        func size() throws -> Int64 {
            try withInode(.size, "fstat") { node in Int64(node.live.size) }
        }

        func truncate(to size: Int64) throws {
            try withInode(.truncate, "ftruncate") { node in
                guard writable else { throw StoreError.io("ftruncate", file: path, errno: EINVAL) }
                node.live.truncate(to: Int(size))
                node.pending.append(.truncate(size: Int(size)))
            }
        }

        func close() throws {
            try owner.state.withLock { state in
                state.time += 1
                state.counters.operations[.close, default: 0] += 1
                guard !closed.exchange(true, ordering: .relaxed) else { throw StoreError.io("close", file: path, errno: EBADF) }
                if state.epoch == epoch, let count = state.openCounts[inode] {
                    state.openCounts[inode] = count > 1 ? count - 1 : nil
                    PowerLossFileSystem.collect(&state)
                }
                // Closing never fails otherwise (not even on a dead machine: the descriptor goes away).
            }
        }
    }
}
