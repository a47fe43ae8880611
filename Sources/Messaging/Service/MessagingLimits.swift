/// The bounds the messaging service enforces.
public struct MessagingLimits: Sendable, Hashable {
    /// The largest message content in UTF-8 bytes (default 64 KiB).
    public var maxContentBytes: Int
    /// The page size when a reader gives none.
    public var pageSizeDefault: Int
    /// The largest page size a reader may ask for (inbox pages and member lists).
    public var maxPageSize: Int
    /// The member-list page size when a reader gives none.
    public var memberPageSizeDefault: Int
    /// The largest inbox page in bytes of JSON (default 4 MiB): a page stops
    /// before the message that would pass it, and carries a `nextPageToken`.
    /// At least one message always fits: the bound is at least
    /// ``smallestPageBytes(maxContentBytes:)``.
    public var maxPageBytes: Int

    /// The defaults of the HTTP contract: 64 KiB content, pages of 50, at most
    /// 1000, member pages of 1000, inbox pages of at most 4 MiB.
    public init(
        maxContentBytes: Int = 64 * 1024, pageSizeDefault: Int = 50, maxPageSize: Int = 1000,
        memberPageSizeDefault: Int = 1000, maxPageBytes: Int = 4 * 1024 * 1024
    ) {
        precondition(maxContentBytes > 0 && pageSizeDefault > 0 && pageSizeDefault <= maxPageSize)
        precondition(memberPageSizeDefault > 0 && memberPageSizeDefault <= maxPageSize)
        precondition(maxPageBytes >= Self.smallestPageBytes(maxContentBytes: maxContentBytes))
        self.maxContentBytes = maxContentBytes
        self.pageSizeDefault = pageSizeDefault
        self.maxPageSize = maxPageSize
        self.memberPageSizeDefault = memberPageSizeDefault
        self.maxPageBytes = maxPageBytes
    }

    /// The smallest page byte bound that holds any one message of at most
    /// `maxContentBytes`, every byte escaped (`\u00XX`, 6 bytes each).
    public static func smallestPageBytes(maxContentBytes: Int) -> Int {
        InboxPageSize.pageOverhead + 512 + maxContentBytes * 6
    }
}
