/// The bounds the messaging service enforces.
public struct MessagingLimits: Sendable, Hashable {
    /// The largest message content in UTF-8 bytes (default 64 KiB).
    public var maxContentBytes: Int
    /// The page size when a reader gives none.
    public var pageSizeDefault: Int
    /// The largest page size a reader may ask for.
    public var maxPageSize: Int

    /// The defaults of the HTTP contract: 64 KiB content, pages of 50, at most 1000.
    public init(maxContentBytes: Int = 64 * 1024, pageSizeDefault: Int = 50, maxPageSize: Int = 1000) {
        precondition(maxContentBytes > 0 && pageSizeDefault > 0 && pageSizeDefault <= maxPageSize)
        self.maxContentBytes = maxContentBytes
        self.pageSizeDefault = pageSizeDefault
        self.maxPageSize = maxPageSize
    }
}
