import Synchronization

/// A live SSTable of a partition: its manifest metadata and its open reader
/// (whose descriptor the engine's ``TableFileCache`` opens and closes).
///
/// Versions and in-flight reads hold `SSTableFile`s; a file dropped from the
/// current version by a compaction is marked obsolete, and is deleted from
/// disk when the last holder lets go (reference counting does the bookkeeping
/// LevelDB's `Version` ref counts do) — after its descriptor is closed.
final class SSTableFile: Sendable {
    let metadata: FileMetadata
    let path: String
    let reader: SSTableReader
    private let fileSystem: any FileSystem
    private let cache: BlockCache?
    private let obsolete = Atomic<Bool>(false)

    init(metadata: FileMetadata, directory: String, fileSystem: any FileSystem, cache: BlockCache?, tableFiles: TableFileCache) throws {
        self.metadata = metadata
        self.cache = cache
        self.path = joinPath(directory, StoreFileNames.table(metadata.number))
        self.fileSystem = fileSystem
        guard fileSystem.exists(path) else {
            throw StoreError.corruption("the manifest lists \(StoreFileNames.table(metadata.number)), which is missing", file: path, offset: nil)
        }
        self.reader = try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: metadata.number, cache: cache,
                                             tableFiles: tableFiles)
        guard reader.fileSize == metadata.size else {
            throw StoreError.corruption("file is \(reader.fileSize) bytes; the manifest says \(metadata.size)", file: path, offset: nil)
        }
    }

    /// Marks the file for deletion once no version or read holds it.
    func markObsolete() { obsolete.store(true, ordering: .releasing) }

    deinit {
        try? reader.close()  // the cached descriptor goes first: never one open on a removed file
        if obsolete.load(ordering: .acquiring) {
            try? fileSystem.remove(path)
            // Blocks of a deleted file can never be read again: free their memory now.
            cache?.removeAll(fileNumber: metadata.number)
        }
    }

    /// Whether the file's user-key range may hold keys starting with `prefix`.
    func overlaps(prefix: UnsafeRawBufferPointer) -> Bool {
        let smallest = metadata.smallestUserKey
        let largest = metadata.largestUserKey
        let largestOK = largest.withUnsafeBytes { compareBytes($0, prefix) >= 0 }
        guard largestOK else { return false }
        return smallest.withUnsafeBytes { raw in
            compareBytes(raw, prefix) <= 0 || (raw.count >= prefix.count && compareBytes(UnsafeRawBufferPointer(rebasing: raw[..<prefix.count]), prefix) == 0)
        }
    }

    /// Whether the file's user-key range contains `userKey`.
    func contains(userKey: UnsafeRawBufferPointer) -> Bool {
        metadata.smallestUserKey.withUnsafeBytes { compareBytes($0, userKey) <= 0 }
            && metadata.largestUserKey.withUnsafeBytes { compareBytes($0, userKey) >= 0 }
    }
}

/// The SSTables of one partition at one moment: immutable once built.
struct PartitionVersion: Sendable {
    /// `levels[0]` newest first (ranges may overlap); other levels sorted by key, disjoint.
    var levels: [[SSTableFile]] = Array(repeating: [], count: levelCount)

    /// Bytes of a level's files.
    func bytes(level: Int) -> UInt64 { levels[level].reduce(0) { $0 + $1.metadata.size } }

    var fileCount: Int { levels.reduce(0) { $0 + $1.count } }

    /// Files of `level` (≥ 1) whose user-key range overlaps [smallest, largest].
    func overlapping(level: Int, smallest: ArraySlice<UInt8>, largest: ArraySlice<UInt8>) -> [SSTableFile] {
        levels[level].filter { file in
            compareBytes(Array(file.metadata.largestUserKey), Array(smallest)) >= 0
                && compareBytes(Array(file.metadata.smallestUserKey), Array(largest)) <= 0
        }
    }

    /// The file of `level` (≥ 1) whose range contains `userKey`, by binary search.
    func file(level: Int, containing userKey: UnsafeRawBufferPointer) -> SSTableFile? {
        let files = levels[level]
        var low = 0, high = files.count
        while low < high {
            let middle = (low + high) / 2
            if files[middle].metadata.largestUserKey.withUnsafeBytes({ compareBytes($0, userKey) }) < 0 {
                low = middle + 1
            } else {
                high = middle
            }
        }
        guard low < files.count, files[low].contains(userKey: userKey) else { return nil }
        return files[low]
    }
}
