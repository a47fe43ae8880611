#if DEBUG || MSGSTORE_FUZZ
@testable import MsgStore

/// SSTables, manifests and the `SCHEMA` file.
enum FileTargets {
    static let directory = "/db"

    // MARK: sstable

    /// A whole SSTable file (docs/sstable-format.md): open (footer,
    /// metaindex, properties, filters, dictionary, index), iterate every
    /// entry, seek and get, `inspect` with entries and `verify`. When
    /// `verify` finds the file sound, every entry must be found again by
    /// `get` and by a seek.
    static func sstable(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.sstable) { bytes in
            let fileSystem = MemoryFileSystem()
            let path = "/db/000007.sst"
            fileSystem.put(path, bytes)
            let reader: SSTableReader
            do {
                reader = try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: 7, cache: nil)
            } catch {
                Contract.check(error, "SSTableReader.open")
                return
            }
            defer { try? reader.close() }

            var keys: [[UInt8]] = []
            var iterated = 0
            var iterationFailed = false
            let iterator = reader.makeIterator(fillsCache: false)
            do {
                try iterator.seekToFirst()
                while iterator.isValid {
                    Contract.expect(iterator.key.count >= InternalKey.trailerSize, "internal key of \(iterator.key.count) bytes")
                    if keys.count < 16 { keys.append(Array(iterator.key)) }
                    iterated += 1
                    Contract.expect(iterated <= bytes.count, "more entries than bytes")
                    try iterator.next()
                }
            } catch {
                Contract.check(error, "SSTable iteration")
                iterationFailed = true
            }

            // Lookups of the keys seen, and of made-up keys: throw or answer, never trap.
            let sound = SSTableInspection.verify(path: path, fileSystem: fileSystem).isEmpty
            for key in keys + madeUpKeys(bytes) {
                let found: SSTableReader.GetResult
                do {
                    let userKey = Array(key.dropLast(InternalKey.trailerSize))
                    let sequence = key.withUnsafeBytes { InternalKey.sequence($0) }
                    found = try reader.get(userKey, snapshotSequence: sequence)
                    try key.withUnsafeBytes { try iterator.seek(toFirstAtOrAfter: $0) }
                } catch {
                    Contract.check(error, "SSTable get/seek")
                    Contract.expect(!sound, "get or seek fails in a file verify finds sound: \(error)")
                    continue
                }
                guard sound, keys.contains(key) else { continue }
                let sequence = key.withUnsafeBytes { InternalKey.sequence($0) }
                // (A value and a tombstone may share a key and sequence: either may be found.)
                switch found {
                case .found(_, let s), .deleted(let s):
                    Contract.expect(s == sequence, "get finds sequence \(s), the entry has \(sequence)")
                case .notPresent:
                    Contract.expect(false, "get misses an entry of a sound file")
                }
                Contract.expect(iterator.isValid && Array(iterator.key) == key, "seek to an entry of a sound file lands elsewhere")
            }

            do {
                let inspection = try SSTableInspection.inspect(path: path, fileSystem: fileSystem, includeEntries: true)
                if !iterationFailed {
                    Contract.expect(inspection.entries?.count == iterated, "inspect shows \(inspection.entries?.count ?? -1) entries, iteration \(iterated)")
                }
            } catch {
                Contract.check(error, "SSTableInspection.inspect")
            }
        }
    }

    /// A few internal keys built from the input's bytes (lookups of keys the file may not hold).
    private static func madeUpKeys(_ bytes: [UInt8]) -> [[UInt8]] {
        var keys: [[UInt8]] = [InternalKey.make(userKey: [], sequence: InternalKey.maxSequence, kind: .value)]
        var offset = 0
        while offset < bytes.count && keys.count < 4 {
            let length = min(Int(bytes[offset]) % 24, bytes.count - offset)
            keys.append(InternalKey.make(userKey: Array(bytes[offset..<(offset + length)]), sequence: UInt64(offset), kind: .value))
            offset += 97
        }
        return keys
    }

    // MARK: manifest

    /// A manifest (docs/manifest-format.md) as `CURRENT` names it: loaded as
    /// recovery does (log reader, version edits, the state they build) and
    /// inspected. Every edit that decodes must survive a re-encoding, and
    /// the loaded state must survive its own snapshot edit.
    static func manifest(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.logFile) { bytes in
            let fileSystem = MemoryFileSystem()
            let path = "/db/" + StoreFileNames.manifest(1)
            fileSystem.put(path, bytes)
            fileSystem.put("/db/" + StoreFileNames.current, Array((StoreFileNames.manifest(1) + "\n").utf8))

            // Each record: decode, re-encode, decode.
            do {
                _ = try LogReader(path: path, mode: .pointInTime).read(using: fileSystem) { _, record in
                    guard let edit = VersionEdit.decode(record) else { return }
                    let encoded = edit.encode()
                    let again = encoded.withUnsafeBytes { VersionEdit.decode($0) }
                    Contract.expect(again != nil && again!.encode() == encoded, "a version edit does not survive re-encoding")
                }
            } catch {
                Contract.check(error, "manifest LogReader")
            }

            do {
                let loaded = try Manifest.load(directory: directory, fileSystem: fileSystem)
                var rebuilt = VersionState()
                let snapshot = loaded.state.snapshotEdit().encode()
                guard let edit = snapshot.withUnsafeBytes({ VersionEdit.decode($0) }) else {
                    fatalError("inconsistent decode: the snapshot edit of a loaded manifest does not decode")
                }
                do {
                    try rebuilt.apply(edit, path: path)
                } catch {
                    fatalError("inconsistent decode: the snapshot edit of a loaded manifest does not apply: \(error)")
                }
                Contract.expect(rebuilt == loaded.state, "the snapshot edit of a loaded manifest rebuilds another state")
            } catch {
                Contract.check(error, "Manifest.load")
            }

            do {
                _ = try ManifestInspection.inspect(path: path, fileSystem: fileSystem)
            } catch {
                Contract.check(error, "ManifestInspection")
            }
        }
    }

    // MARK: schema

    /// The `SCHEMA` file (the table catalog): decoded, re-encoded, and
    /// reconciled with a declared table as a store's open does.
    static func schema(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.schemaFile) { bytes in
            let path = "/db/" + StoreFileNames.schema
            let catalog: SchemaCatalog
            do {
                catalog = try SchemaCatalog.decode(bytes, path: path)
            } catch {
                Contract.check(error, "SchemaCatalog.decode")
                return
            }
            let again = try? SchemaCatalog.decode(catalog.encode(), path: path)
            Contract.expect(again == catalog, "a decoded SCHEMA does not survive re-encoding")

            let fileSystem = MemoryFileSystem()
            fileSystem.put(path, bytes)
            _ = DirectoryInspection.tableNames(directory: directory, fileSystem: fileSystem)
            // Reconciling creates every partition (a memtable: a 1 MiB arena chunk and 32 KiB
            // of hints, slow under the sanitizer): only for catalogs of a realistic size.
            guard catalog.entries.reduce(0, { $0 + $1.partitionCount }) <= 256 else { return }
            let declared = [TableSchema(name: "kv", partitionCount: 2),
                            TableSchema(name: "users", partitionCount: 4, indexes: [
                                IndexSchema(name: "byName", partitionCount: 2, kind: .referencing) { _, _ in nil }])]
            do {
                let opened = try TableCatalog.open(directory: directory, declared: declared, fileSystem: fileSystem, firstLogNumber: 1)
                Contract.expect(opened.tablesByName["kv"] != nil && opened.tablesByName["users.byName"] != nil, "declared tables missing")
            } catch let error as StoreError where error.code == .schemaMismatch || error.code == .invalidArgument {
                // The file declares the same names with other partition counts or ids: refused, as it should be.
            } catch {
                Contract.check(error, "TableCatalog.open")
            }
        }
    }
}
#endif
