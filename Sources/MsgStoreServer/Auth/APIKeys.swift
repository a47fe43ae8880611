/// What a key may do.
public enum APIKeyAccess: String, Sendable, Equatable {
    /// Every route.
    case readWrite = "read-write"
    /// `GET` and `HEAD` only; anything else is answered `403`.
    case readOnly = "read-only"
}

/// The API keys of `serve --api-keys FILE`: bearer tokens with a name (for
/// logs; a key itself is never logged) and an access level.
///
/// The file holds one key per line, `NAME KEY [read-write|read-only]`
/// separated by spaces or tabs; `#` starts a comment, blank lines are
/// skipped. A key is 16 to 256 printable ASCII characters without spaces,
/// and unique.
public struct APIKeys: Sendable {
    /// One key.
    public struct Key: Sendable, Equatable {
        /// The name logs show.
        public var name: String
        /// What it may do.
        public var access: APIKeyAccess
        /// The token, compared in constant time.
        let token: [UInt8]
    }

    /// The keys, in file order.
    public let keys: [Key]
    /// The longest token: every comparison runs over this many bytes.
    private let longest: Int

    /// Parses the file format above; `file` names it in errors.
    /// - Throws: ``APIKeysError`` naming the line of the first problem.
    public init(parsing text: String, file: String = "the API key file") throws {
        var keys: [Key] = []
        var seen: Set<[UInt8]> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            let place = "\(file), line \(index + 1)"
            guard fields.count == 2 || fields.count == 3 else {
                throw APIKeysError("\(place): expected NAME KEY [read-write|read-only], found \(fields.count) fields")
            }
            let token = Array(fields[1].utf8)
            guard (16...256).contains(token.count), token.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw APIKeysError("\(place): a key is 16 to 256 printable ASCII characters without spaces")
            }
            var access = APIKeyAccess.readWrite
            if fields.count == 3 {
                guard let parsed = APIKeyAccess(rawValue: String(fields[2])) else {
                    throw APIKeysError("\(place): access must be read-write or read-only, not '\(fields[2])'")
                }
                access = parsed
            }
            guard seen.insert(token).inserted else { throw APIKeysError("\(place): the same key is listed twice") }
            keys.append(Key(name: String(fields[0]), access: access, token: token))
        }
        guard !keys.isEmpty else { throw APIKeysError("\(file) holds no key: every request would be refused") }
        self.keys = keys
        self.longest = keys.map(\.token.count).max() ?? 0
    }

    /// The key whose token is `presented`, or nil. Compares against every key,
    /// byte by byte over the longest key's length, without an early exit:
    /// the time taken does not depend on how much of a key matched or which one.
    public func authenticate<Bytes: Collection>(_ presented: Bytes) -> Key? where Bytes.Element == UInt8 {
        let candidate = Array(presented.prefix(longest + 1))
        var found = -1
        for (index, key) in keys.enumerated() {
            var difference = UInt(truncatingIfNeeded: candidate.count ^ key.token.count)
            for offset in 0..<longest {
                let left = offset < candidate.count ? candidate[offset] : 0
                let right = offset < key.token.count ? key.token[offset] : 0
                difference |= UInt(left ^ right)
            }
            // Branch-free select: found = difference == 0 ? index : found.
            let isMatch = difference == 0 ? -1 : 0  // all ones when it matches
            found = (index & isMatch) | (found & ~isMatch)
        }
        return found >= 0 ? keys[found] : nil
    }
}

/// A problem in the API key file.
public struct APIKeysError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the file and line.
    public let description: String

    init(_ description: String) { self.description = description }
}
