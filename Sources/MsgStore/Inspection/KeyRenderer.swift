/// How inspection shows a table's rows and the store's commit stamps to people.
///
/// The engine stores bytes and knows nothing of what an application keeps in
/// them, so ``DirectoryInspection``, ``LogInspection`` and
/// ``ManifestInspection`` take a renderer: ``HexKeyRenderer`` (the default)
/// shows keys as hexadecimal; an application passes one that knows its layout
/// (`msgstore inspect` passes one that knows its own tables).
///
/// Every requirement has a default (the hex renderer's), so a renderer
/// implements only what it knows better.
public protocol KeyRenderer: Sendable {
    /// A row key of `table`: its partition key and sort key (empty when the
    /// table has none), already split.
    func render(table: String, partitionKey: [UInt8], sortKey: [UInt8]) -> String

    /// A row's value in `table`.
    func render(table: String, value: [UInt8]) -> String

    /// A commit stamp (microseconds since the Unix epoch, from the store's
    /// commit clock).
    func render(commitStamp microseconds: Int64) -> String
}

extension KeyRenderer {
    /// `partitionKey | sortKey` in hexadecimal (the partition key alone when the sort key is empty).
    public func render(table: String, partitionKey: [UInt8], sortKey: [UInt8]) -> String {
        HexKeyRenderer.hex(partitionKey) + (sortKey.isEmpty ? "" : " | " + HexKeyRenderer.hex(sortKey))
    }

    /// Printable UTF-8 as quoted text (at most 200 characters), anything else as hex (at most 100 bytes).
    public func render(table: String, value: [UInt8]) -> String {
        HexKeyRenderer.describe(value: value)
    }

    /// The microsecond count, e.g. `1719226193159123µs`.
    public func render(commitStamp microseconds: Int64) -> String {
        "\(microseconds)µs"
    }

    /// An encoded user key of `table` (as ``SSTableInspection/Entry/userKey``
    /// holds it): split into partition and sort key and rendered, or
    /// `hex:…` when it is not a well-formed row key.
    public func render(table: String, userKey: [UInt8]) -> String {
        userKey.withUnsafeBytes { raw in
            guard let row = RowKeyCoding.decode(raw) else { return "hex:" + HexKeyRenderer.hex(userKey) }
            return render(table: table, partitionKey: row.partitionKey, sortKey: row.sortKey)
        }
    }
}

/// The engine's default ``KeyRenderer``: keys in hexadecimal, values as text
/// when printable, commit stamps as microsecond counts.
public struct HexKeyRenderer: KeyRenderer {
    /// Creates the renderer.
    public init() {}

    /// Lowercase hexadecimal, two digits a byte.
    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes as text if they are valid UTF-8 without control characters (tabs allowed), else nil.
    public static func text(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, let text = String(validating: bytes, as: UTF8.self),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) else { return nil }
        return text
    }

    /// A value: `(empty)`, quoted text when it is printable UTF-8 (cut at
    /// `limit` characters), else `hex:…` (cut at `limit / 2` bytes).
    public static func describe(value bytes: [UInt8], limit: Int = 200) -> String {
        if bytes.isEmpty { return "(empty)" }
        if let text = text(bytes) { return "\"" + String(text.prefix(limit)) + (text.count > limit ? "…" : "") + "\"" }
        let shown = bytes.prefix(limit / 2)
        return "hex:" + hex(shown) + (bytes.count > shown.count ? "… (\(bytes.count) bytes)" : "")
    }
}

extension KeyRenderer where Self == HexKeyRenderer {
    /// The engine's default: keys in hexadecimal.
    public static var hex: HexKeyRenderer { HexKeyRenderer() }
}
