#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Named points inside the engine where a test may intervene: run code (to
/// widen a race window deterministically) or kill the process (a *crash
/// point*, for the real-process SIGKILL tests).
///
/// Disarmed — the normal case — a point costs one relaxed atomic load.
/// Crash points are armed from the environment when a store opens (a queue
/// opened through the store shares the store's hooks; one opened alone with
/// ``DurableQueue/open(directory:fileSystem:options:)`` arms its own):
/// `MSGSTORE_CRASH_POINT=name` or `name:N` kills the process with SIGKILL at
/// the N-th time (default 1st) the point is reached. Only tests set it.
final class TestHooks: Sendable {
    /// The points.
    enum Point: String, Sendable, CaseIterable {
        /// A point lookup took its read view and has not yet taken its snapshot.
        case afterReadView = "after-read-view"
        /// A flush wrote its SSTable; its manifest edit is not written.
        case flushBeforeManifestEdit = "flush-before-manifest-edit"
        /// A flush's manifest edit is durable; obsolete log segments are not yet removed.
        case flushAfterManifestEdit = "flush-after-manifest-edit"
        /// A flush is writing its SSTable: reached every
        /// ``BackgroundJobs/stopCheckInterval`` entries (tests slow flushes here).
        case flushProgress = "flush-progress"
        /// A compaction is writing its outputs: reached every
        /// ``BackgroundJobs/stopCheckInterval`` input entries (tests slow
        /// compactions here; a crash here leaves unfinished outputs for open to delete).
        case compactionProgress = "compaction-progress"
        /// A compaction wrote its outputs; its manifest edit is not written.
        case compactionBeforeManifestEdit = "compaction-before-manifest-edit"
        /// A compaction's manifest edit is durable; its inputs are not yet removed.
        case compactionAfterManifestEdit = "compaction-after-manifest-edit"
        /// A new manifest is durable; `CURRENT` does not name it yet.
        case manifestBeforeCurrentSwap = "manifest-before-current-swap"
        /// A log roll cut and synced the old segment; the new one is not yet created.
        case logRollBeforeCreate = "log-roll-before-create"

        // The durable queue's points (a dead-letter queue shares its queue's hooks).

        /// A queue's enqueue batch is written to its segment; its `fdatasync` has not run
        /// (nobody was told the enqueues are durable).
        case queueEnqueueBeforeSync = "queue-enqueue-before-sync"
        /// A queue's segment roll synced the full segment; the next segment is not yet created.
        case queueRollBeforeCreate = "queue-roll-before-create"
        /// A queue's ack delta is written to the consumer state; its `fdatasync` has not run.
        case queueAckBeforeSync = "queue-ack-before-sync"
        /// A queue's consumer-state snapshot is written and synced to its temp file; not yet renamed.
        case queueConsumerStateBeforeRename = "queue-consumer-state-before-rename"
        /// Messages moving to the dead-letter queue are durable there; not yet acked in their queue.
        case queueDeadLetterMove = "queue-dead-letter-move"
    }

    private let armed = Atomic<Bool>(false)
    private let actions = Mutex<[Point: @Sendable () -> Void]>([:])

    /// Whether any point is armed.
    var isArmed: Bool { armed.load(ordering: .relaxed) }

    /// Runs `action` whenever `point` is reached (nil: disarms the point).
    func set(_ point: Point, _ action: (@Sendable () -> Void)?) {
        actions.withLock { actions in
            actions[point] = action
            armed.store(!actions.isEmpty, ordering: .relaxed)
        }
    }

    /// Runs the action armed at `point`, if any.
    func run(_ point: Point) {
        guard isArmed, let action = actions.withLock({ $0[point] }) else { return }
        action()
    }

    /// Arms the crash point named by `MSGSTORE_CRASH_POINT` (`name` or `name:N`), if set.
    func armFromEnvironment() {
        guard let raw = getenv("MSGSTORE_CRASH_POINT") else { return }
        let spec = String(cString: raw).split(separator: ":")
        guard let name = spec.first, let point = Point(rawValue: String(name)) else { return }
        let after = spec.count > 1 ? Int(spec[1]) ?? 1 : 1
        let hits = Atomic<Int>(0)
        set(point) {
            if hits.add(1, ordering: .relaxed).newValue >= after {
                kill(getpid(), SIGKILL)
            }
        }
    }
}
