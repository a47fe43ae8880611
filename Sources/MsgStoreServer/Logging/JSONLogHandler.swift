#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// How `serve` writes its log (`--log-format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's line format: `time level label : metadata [source] message`.
    case text
    /// One JSON object per line (``JSONLogHandler``).
    case json
}

/// A swift-log handler writing one JSON object per line to standard error,
/// for log shippers (Loki, Elasticsearch, CloudWatch):
///
/// ```json
/// {"time":"2026-11-30T01:02:03.456789Z","level":"info","label":"msgstore","message":"…","request_id":"…"}
/// ```
///
/// Metadata keys become top-level fields (a key that collides with `time`,
/// `level`, `label`, `message` or `source` is written as `metadata.KEY`);
/// nested metadata becomes JSON arrays and objects. Each line is written with
/// one `write(2)`, so lines from different threads never interleave.
public struct JSONLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// The level below which records are dropped.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every record of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Metadata supplied by the task (swift-log's provider), merged under the record's own.
    public var metadataProvider: Logger.MetadataProvider?
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.init(label: label, metadataProvider: metadataProvider) { line in
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    /// A handler handing each line (with its newline) to `write` (tests).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    /// Metadata of this logger by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record as one line.
    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        var json = "{\"time\":\"" + Self.timestamp() + "\",\"level\":\"" + level.rawValue + "\",\"label\":"
        Self.appendString(label, to: &json)
        json += ",\"message\":"
        Self.appendString(message.description, to: &json)
        json += ",\"source\":"
        Self.appendString(source, to: &json)
        for key in merged.keys.sorted() {
            json += ","
            Self.appendString(Self.reserved.contains(key) ? "metadata." + key : key, to: &json)
            json += ":"
            Self.append(merged[key]!, to: &json)
        }
        json += "}\n"
        write(json)
    }

    private static let reserved: Set<String> = ["time", "level", "label", "message", "source"]

    /// The current UTC time as ISO 8601 with microseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let micros = String(now.tv_nsec / 1_000)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):"
            + "\(two(parts.tm_sec)).\(String(repeating: "0", count: 6 - micros.count))\(micros)Z"
    }

    private static func append(_ value: Logger.Metadata.Value, to json: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &json)
        case .stringConvertible(let convertible):
            // Numbers stay numbers, so a log query can compare them.
            switch convertible {
            case let integer as any BinaryInteger: json += "\(integer)"
            case let real as Double where real.isFinite: json += "\(real)"
            default: appendString(convertible.description, to: &json)
            }
        case .array(let values):
            json += "["
            for (index, element) in values.enumerated() {
                if index > 0 { json += "," }
                append(element, to: &json)
            }
            json += "]"
        case .dictionary(let dictionary):
            json += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { json += "," }
                appendString(key, to: &json)
                json += ":"
                append(dictionary[key]!, to: &json)
            }
            json += "}"
        }
    }

    /// Appends `text` as a JSON string (RFC 8259 escapes).
    static func appendString(_ text: String, to json: inout String) {
        json += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}
