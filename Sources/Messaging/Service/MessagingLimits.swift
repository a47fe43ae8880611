/// The bounds the messaging service enforces.
public struct MessagingLimits: Sendable, Hashable {
    /// The largest message content in UTF-8 bytes (default 64 KiB).
    public var contentBytesMax: Int
    /// The page size when a reader gives none.
    public var pageSizeDefault: Int
    /// The largest page size a reader may ask for.
    public var pageSizeMax: Int

    /// The defaults of the HTTP contract: 64 KiB content, pages of 50, at most 1000.
    public init(contentBytesMax: Int = 64 * 1024, pageSizeDefault: Int = 50, pageSizeMax: Int = 1000) {
        precondition(contentBytesMax > 0 && pageSizeDefault > 0 && pageSizeDefault <= pageSizeMax)
        self.contentBytesMax = contentBytesMax
        self.pageSizeDefault = pageSizeDefault
        self.pageSizeMax = pageSizeMax
    }
}
