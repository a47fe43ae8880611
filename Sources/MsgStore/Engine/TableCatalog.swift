/// The catalog of an open store: every table and index known to the
/// directory, by id and by name, and their partitions. Fixed at open
/// (``open(directory:declared:fileSystem:firstLogNumber:)``); immutable after.
struct TableCatalog: Sendable {
    /// Tables and indexes by their stable id.
    let tablesById: [UInt32: TableState]
    /// Tables and indexes by name (an index: `table.index`).
    let tablesByName: [String: TableState]
    /// Every partition of every table and index.
    let partitions: [Partition]
    /// Every partition by its id.
    let partitionsById: [PartitionID: Partition]

    /// Reconciles the declared tables with the directory's `SCHEMA` file
    /// (recording new ones) and builds the catalog; memtables of new
    /// partitions start at log segment `firstLogNumber`.
    static func open(directory: String, declared: [TableSchema], fileSystem: any FileSystem, firstLogNumber: UInt64) throws -> TableCatalog {
        let states = try reconcileSchema(directory: directory, declared: declared, fileSystem: fileSystem, firstLogNumber: firstLogNumber)
        return TableCatalog(states)
    }

    /// A catalog of `states`.
    init(_ states: [TableState]) {
        tablesById = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.id, $0) })
        tablesByName = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.name, $0) })
        partitions = states.flatMap(\.partitions)
        partitionsById = Dictionary(uniqueKeysWithValues: partitions.map { ($0.id, $0) })
    }

    /// Checks the declared tables against the `SCHEMA` file, records new ones,
    /// and returns a state for every table and index known to the directory.
    private static func reconcileSchema(
        directory: String, declared: [TableSchema], fileSystem: any FileSystem, firstLogNumber: UInt64
    ) throws -> [TableState] {
        let path = joinPath(directory, StoreFileNames.schema)
        var catalog = SchemaCatalog()
        if fileSystem.exists(path) {
            let file = try fileSystem.open(path, mode: .read)
            defer { try? file.close() }
            catalog = try SchemaCatalog.decode(try file.readAll(), path: path)
        }
        let before = catalog
        var states: [TableState] = []
        var seenIds: [UInt32: String] = [:]
        var totalPartitions = catalog.entries.reduce(0) { $0 + $1.partitionCount }

        func register(name: String, partitions: Int, kind: UInt8) throws -> UInt32 {
            guard !name.isEmpty, partitions >= 1, partitions <= 4096 else {
                throw StoreError(.invalidArgument, "table \"\(name)\": a name and 1...4096 partitions are required")
            }
            let id = tableId(for: name)
            if let other = seenIds[id] {
                throw StoreError(.invalidArgument, "tables \"\(other)\" and \"\(name)\" have the same id; rename one")
            }
            seenIds[id] = name
            if let existing = catalog.entries.first(where: { $0.name == name }) {
                guard existing.partitionCount == partitions, existing.kind == kind else {
                    throw StoreError(.schemaMismatch,
                        "\"\(name)\" was created with \(existing.partitionCount) partitions (kind \(existing.kind)); declared with \(partitions) (kind \(kind))",
                        file: path)
                }
            } else {
                // The bound a SCHEMA is read with (so that a store that opens can be opened again).
                totalPartitions += partitions
                guard totalPartitions <= SchemaCatalog.maxTotalPartitions else {
                    throw StoreError(.invalidArgument,
                        "\"\(name)\": the tables and indexes would have \(totalPartitions) partitions in all; a store may have \(SchemaCatalog.maxTotalPartitions)")
                }
                catalog.entries.append(.init(id: id, name: name, partitionCount: partitions, kind: kind))
            }
            return id
        }

        for table in declared {
            var indexStates: [IndexState] = []
            for index in table.indexes {
                let name = table.name + "." + index.name
                let id = try register(name: name, partitions: index.partitionCount, kind: index.kind == .covering ? 1 : 2)
                let handle = Table(name: name, id: id, partitionCount: index.partitionCount, indexKind: index.kind, hasIndexes: false)
                let state = TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: [])
                indexStates.append(IndexState(schema: index, table: state))
                states.append(state)
            }
            let id = try register(name: table.name, partitions: table.partitionCount, kind: 0)
            var handle = Table(name: table.name, id: id, partitionCount: table.partitionCount, indexKind: nil, hasIndexes: !indexStates.isEmpty)
            handle.cachesRows = table.cachesRows
            states.append(TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: indexStates))
        }
        // Tables known to the directory but not declared now: kept, so their data stays readable and their log records replay.
        for entry in catalog.entries where seenIds[entry.id] == nil {
            let kind: IndexSchema.Kind? = entry.kind == 1 ? .covering : entry.kind == 2 ? .referencing : nil
            let handle = Table(name: entry.name, id: entry.id, partitionCount: entry.partitionCount, indexKind: kind, hasIndexes: false)
            states.append(TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: []))
        }
        if catalog != before {
            try fileSystem.writeAtomically(catalog.encode(), to: path)
        }
        return states
    }
}
