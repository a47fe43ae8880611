/// All file I/O of the engine goes through this protocol, so that tests can
/// substitute a file system that fails or forgets unsynced bytes on cue
/// (LevelDB's `Env`, Pebble's `vfs.FS`).
///
/// Paths are plain strings; the engine only ever builds them by joining a
/// directory and a file name.
public protocol FileSystem: Sendable {
    /// Opens (and with ``OpenMode/create`` creates) a file.
    func open(_ path: String, mode: OpenMode) throws -> any StorageFile
    /// Whether a file or directory exists at `path`.
    func exists(_ path: String) -> Bool
    /// Atomically renames `source` to `destination`, replacing it. Call
    /// ``syncDirectory(_:)`` afterwards to make the rename durable.
    func rename(_ source: String, to destination: String) throws
    /// Removes a file. Removing a missing file is an error with code ``StoreError/Code/notFound``.
    func remove(_ path: String) throws
    /// Creates a directory and its missing parents.
    func createDirectory(_ path: String) throws
    /// Makes the directory's entries (creates, renames, removes) durable.
    func syncDirectory(_ path: String) throws
    /// The names (not paths) of the entries in a directory, unsorted.
    func contentsOfDirectory(_ path: String) throws -> [String]
    /// The size of a file in bytes.
    func fileSize(_ path: String) throws -> Int64
    /// Takes an exclusive advisory lock (`flock`) on `path`, creating it; fails
    /// at once with ``StoreError/Code/locked`` if another holder has it.
    func lock(_ path: String) throws -> any FileLock
}

/// How ``FileSystem/open(_:mode:)`` opens a file.
public enum OpenMode: Sendable {
    /// Read only; the file must exist.
    case read
    /// Read and write; the file must exist.
    case readWrite
    /// Read and write; created if missing, kept if present.
    case create
    /// Read and write; created, and truncated to zero bytes if present.
    case createTruncate
}

/// An open file. Writes are positional: the owner tracks its own offsets.
public protocol StorageFile: AnyObject, Sendable {
    /// The path the file was opened with.
    var path: String { get }
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Reads up to `buffer.count` bytes at `offset`; returns the count read (less only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// `fdatasync`: the file's data (and size) are on stable storage when it returns.
    func sync() throws
    /// The current size of the file.
    func size() throws -> Int64
    /// Cuts or extends the file to `size` bytes.
    func truncate(to size: Int64) throws
    /// Closes the descriptor; further calls fail.
    func close() throws
}

extension StorageFile {
    /// Writes an array of bytes at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer if the file ends first.
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: count)
        let got = try result.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        if got < count { result.removeSubrange(got...) }
        return result
    }

    /// Reads the whole file.
    public func readAll() throws -> [UInt8] {
        try read(count: Int(try size()), at: 0)
    }
}

/// A held `flock`; released by ``unlock()`` or when the process exits.
public protocol FileLock: AnyObject, Sendable {
    /// Releases the lock.
    func unlock()
}

extension FileSystem {
    /// Writes `bytes` to `path` atomically and durably: a temporary file is
    /// written and synced, renamed over `path`, and the directory synced.
    public func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = StoreFileNames.temporary(for: path)
        let file = try open(temporary, mode: .createTruncate)
        do {
            try file.write(bytes, at: 0)
            try file.sync()
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        try rename(temporary, to: path)
        try syncDirectory(directoryName(of: path))
    }
}

/// The directory part of a path ("." when there is none).
func directoryName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

/// Joins a directory and a name with one slash.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
