/// A monotonic microsecond clock: each reading is the wall clock or, if that
/// did not move forward (or went back), one microsecond after the previous
/// reading. Not thread-safe: keep it under the store's commit lock.
public struct MicrosecondClock: Sendable {
    /// The last date handed out; persist it to keep dates increasing across restarts.
    public private(set) var last: MessageDate

    /// A clock whose next reading is greater than `last`.
    public init(after last: MessageDate = MessageDate(microsecondsSinceEpoch: 0)) {
        self.last = last
    }

    /// The next date: strictly greater than every earlier one.
    public mutating func next(now: MessageDate = .now()) -> MessageDate {
        let next = max(now.microsecondsSinceEpoch, last.microsecondsSinceEpoch + 1)
        last = MessageDate(microsecondsSinceEpoch: next)
        return last
    }
}
