#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The progress of `msgstore bench`'s current phase on a terminal
/// (``ProgressLine``): the phase, operations done of its total, and the
/// rate, redrawn by a ticker task every 200 ms. Each operation costs one
/// relaxed atomic add; nothing is drawn between phases, so the result lines
/// print cleanly.
final class BenchProgress: Sendable {
    private let line: ProgressLine
    private let done = Atomic<Int>(0)
    /// The running phase: name, total, start (nanoseconds); nil between phases.
    private let phase = Mutex<(name: String, total: Int?, start: UInt64)?>(nil)

    init(enabled: Bool) {
        line = ProgressLine("bench", enabled: enabled)
    }

    /// A phase starts: its operations are counted from zero.
    func begin(_ name: String, total: Int?) {
        done.store(0, ordering: .relaxed)
        phase.withLock { $0 = (name, total, DispatchClock.nanoseconds()) }
    }

    /// One operation done.
    @inline(__always)
    func advance() { done.add(1, ordering: .relaxed) }

    /// The phase ended: the line is cleared before its result is printed.
    func end() {
        phase.withLock { $0 = nil }
        line.finish()
    }

    /// Redraws the line (the ticker calls it).
    func draw() {
        phase.withLock { current in
            guard let current else { return }
            let count = done.load(ordering: .relaxed)
            let seconds = Double(DispatchClock.nanoseconds() - current.start) / 1e9
            let rate = seconds > 0 ? Int(Double(count) / seconds) : 0
            line.update(done: count, total: current.total, detail: "\(current.name), \(rate)/s, \(Int(seconds)) s", force: true)
        }
    }

    /// Redraws every 200 ms until cancelled.
    func startTicker() -> Task<Void, Never> {
        Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                draw()
            }
        }
    }
}

/// The monotonic clock in nanoseconds.
enum DispatchClock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
