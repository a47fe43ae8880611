/// Iterates the files of one sorted level (L1+) as one sequence: files are
/// disjoint and ordered, so only one file's iterator is open at a time.
final class LevelIterator: InternalIterator {
    private let files: [SSTableFile]
    private let fillsCache: Bool
    private var index = 0
    private var current: SSTableIterator?

    /// REQUIRES: `files` sorted by key and disjoint.
    init(files: [SSTableFile], fillsCache: Bool = true) {
        self.files = files
        self.fillsCache = fillsCache
    }

    var isValid: Bool { current?.isValid ?? false }
    var key: UnsafeRawBufferPointer { current!.key }
    var value: UnsafeRawBufferPointer { current!.value }

    func seekToFirst() throws {
        index = 0
        try open(at: 0) { try $0.seekToFirst() }
    }

    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws {
        // The first file whose largest key is ≥ target.
        var low = 0, high = files.count
        while low < high {
            let middle = (low + high) / 2
            if files[middle].metadata.largest.withUnsafeBytes({ InternalKey.compare($0, target) }) < 0 {
                low = middle + 1
            } else {
                high = middle
            }
        }
        try open(at: low) { try $0.seek(toFirstAtOrAfter: target) }
    }

    func next() throws {
        try current?.next()
        if !(current?.isValid ?? false) { try open(at: index + 1) { try $0.seekToFirst() } }
    }

    /// Opens file `position` positioned by `position`, moving on past files that yield nothing.
    private func open(at position: Int, _ place: (SSTableIterator) throws -> Void) throws {
        index = position
        while index < files.count {
            let iterator = files[index].reader.makeIterator(fillsCache: fillsCache)
            try place(iterator)
            if iterator.isValid {
                current = iterator
                return
            }
            index += 1
            return try open(at: index) { try $0.seekToFirst() }
        }
        current = nil
    }
}
