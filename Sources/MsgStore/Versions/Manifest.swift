/// The manifest: an append-only log (`MANIFEST-NNNNNN`, framed like the WAL)
/// of ``VersionEdit``s, and `CURRENT`, a one-line file naming the live
/// manifest, replaced atomically (write temp, fsync, rename, fsync directory).
///
/// Each open starts a new manifest whose first record is a snapshot of the
/// whole state, then switches `CURRENT` to it, so a manifest never grows
/// without bound across restarts. See docs/manifest-format.md.
final class Manifest {
    let directory: String
    let fileSystem: any FileSystem
    let number: UInt64
    private let writer: LogWriter

    /// What loading found.
    struct Loaded {
        var state = VersionState()
        /// The manifest read (nil: a new store).
        var manifestNumber: UInt64?
        /// Notes for the operator (torn tail cut, CURRENT missing, …).
        var notes: [String] = []
    }

    /// Reads `CURRENT` and the manifest it names.
    ///
    /// - A missing `CURRENT` with no manifest: a new store.
    /// - A missing or empty `CURRENT` with manifests present (damage outside
    ///   the engine's control: `CURRENT` is only ever replaced by rename): the
    ///   newest manifest is used, and a note says so.
    /// - A torn manifest tail: the edits before it are used (an edit is
    ///   written and synced before it takes effect, so a torn one never did).
    /// - Corruption before the tail: `.corruption` naming the file and offset.
    static func load(directory: String, fileSystem: any FileSystem) throws -> Loaded {
        var loaded = Loaded()
        let currentPath = joinPath(directory, StoreFileNames.current)
        var name: String?
        if fileSystem.exists(currentPath) {
            let file = try fileSystem.open(currentPath, mode: .read)
            let text = String(decoding: try file.readAll(), as: UTF8.self)
            try file.close()
            let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
            if StoreFileNames.manifestNumber(trimmed) != nil { name = trimmed }
            else { loaded.notes.append("CURRENT holds no manifest name (\(text.count) bytes); using the newest manifest") }
        }
        if name == nil {
            let manifests = try fileSystem.contentsOfDirectory(directory).compactMap(StoreFileNames.manifestNumber).sorted()
            guard let newest = manifests.last else { return loaded }
            if loaded.notes.isEmpty { loaded.notes.append("CURRENT is missing; using the newest manifest \(StoreFileNames.manifest(newest))") }
            name = StoreFileNames.manifest(newest)
        }
        let path = joinPath(directory, name!)
        guard fileSystem.exists(path) else {
            throw StoreError.corruption("CURRENT names \(name!), which does not exist", file: currentPath, offset: 0)
        }
        loaded.manifestNumber = StoreFileNames.manifestNumber(name!)
        var state = VersionState()
        let summary = try LogReader(path: path, mode: .strict).read(using: fileSystem) { offset, record in
            guard let edit = VersionEdit.decode(record) else {
                throw StoreError.corruption("malformed version edit", file: path, offset: offset)
            }
            do {
                try state.apply(edit, path: path)
            } catch var error as StoreError where error.offset == nil {
                error.offset = offset  // the edit that does not apply
                throw error
            }
        }
        if let torn = summary.tornTail {
            loaded.notes.append("manifest \(name!): torn tail at offset \(torn.offset) (\(torn.reason)) ignored")
        }
        loaded.state = state
        return loaded
    }

    /// A write or sync of this manifest failed: nothing more is written to it.
    private(set) var failure: StoreError?

    /// Creates manifest `number` holding `state`, makes it durable, and points `CURRENT` at it.
    convenience init(directory: String, fileSystem: any FileSystem, number: UInt64, state: VersionState) throws {
        try self.init(unpublished: directory, fileSystem: fileSystem, number: number, state: state)
        try makeCurrent()
    }

    /// Creates manifest `number` holding `state` and makes the file durable,
    /// without pointing `CURRENT` at it: a failure here leaves the store as it
    /// was (the file is removed).
    init(unpublished directory: String, fileSystem: any FileSystem, number: UInt64, state: VersionState) throws {
        self.directory = directory
        self.fileSystem = fileSystem
        self.number = number
        let path = joinPath(directory, StoreFileNames.manifest(number))
        let file = try fileSystem.open(path, mode: .createTruncate)
        writer = LogWriter(file: file)
        do {
            writer.append(state.snapshotEdit().encode())
            try writer.flush()
            try writer.sync()
            try fileSystem.syncDirectory(directory)
        } catch {
            try? file.close()
            try? fileSystem.remove(path)
            throw error
        }
    }

    /// Points `CURRENT` at this manifest (write a temporary file, sync,
    /// rename, sync the directory). After a failure which manifest is current
    /// is unknown: the caller must stop writing manifests.
    func makeCurrent() throws {
        try fileSystem.writeAtomically(Array((StoreFileNames.manifest(number) + "\n").utf8), to: joinPath(directory, StoreFileNames.current))
    }

    /// Appends an edit and syncs it; the edit takes effect only after this
    /// returns. After a failure the manifest is failed: the edit's bytes are
    /// dropped (never written later) and every later append throws.
    func append(_ edit: VersionEdit) throws {
        if let failure { throw failure }
        writer.append(edit.encode())
        do {
            try writer.commitOrAbandon(sync: true, describing: "manifest write")
        } catch {
            failure = error as? StoreError
            throw error
        }
    }

    /// Bytes written to this manifest.
    var size: Int64 { writer.length }

    func close() throws {
        if failure != nil {
            writer.discardPending()
            try writer.file.close()
            return
        }
        try writer.close()
    }
}
