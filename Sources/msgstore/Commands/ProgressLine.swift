#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A progress line on standard error for long commands (`verify`, `bench`):
/// `label: done/total (pct%) detail`, redrawn in place at most ten times a
/// second, and cleared at the end. Silent when standard error is not a
/// terminal (a log, a pipe, CI) or with `--quiet`, so output stays clean.
final class ProgressLine: Sendable {
    private let label: String
    private let isEnabled: Bool
    private let state = Mutex<(lastDrawNanos: UInt64, drawn: Bool)>((0, false))

    /// Whether progress should be shown by default: standard error is a terminal.
    static var standardErrorIsTerminal: Bool { isatty(2) == 1 }

    /// A line labelled `label`, shown only if `enabled` (e.g. `!quiet && standardErrorIsTerminal`).
    init(_ label: String, enabled: Bool) {
        self.label = label
        self.isEnabled = enabled
    }

    /// Redraws the line if a tenth of a second passed since the last draw (or `force`).
    func update(done: Int, total: Int?, detail: String = "", force: Bool = false) {
        guard isEnabled else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        let shouldDraw = state.withLock { state -> Bool in
            guard force || nanos - state.lastDrawNanos >= 100_000_000 else { return false }
            state.lastDrawNanos = nanos
            state.drawn = true
            return true
        }
        guard shouldDraw else { return }
        write("\r\u{1B}[K" + Self.text(label: label, done: done, total: total, detail: detail))
    }

    /// Clears the line (before the command prints its result).
    func finish() {
        guard isEnabled, state.withLock({ $0.drawn }) else { return }
        write("\r\u{1B}[K")
    }

    /// `label: done/total (pct%) detail` — the line's text, without control characters.
    static func text(label: String, done: Int, total: Int?, detail: String) -> String {
        var line = "\(label): \(done)"
        if let total, total > 0 {
            line += "/\(total) (\(min(100, done * 100 / total))%)"
        }
        if !detail.isEmpty { line += " " + detail }
        return line
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
