import Testing
@testable import MsgStore

/// Model-based property test: random batches of puts and deletes over several
/// tables and indexes, reopening at random points, and every get and scan
/// compared with a plain in-memory model.
@Suite struct StoreModelTests {
    /// The model: table name → row key → value.
    struct Model {
        var rows: [String: [RowKey: [UInt8]]] = [:]

        mutating func apply(_ op: Op) {
            switch op {
            case .put(let table, let key, let value): rows[table, default: [:]][key] = value
            case .delete(let table, let key): rows[table]?[key] = nil
            }
        }

        /// The expected index entries of `people`: index key → value.
        func index(_ name: String) -> [RowKey: [UInt8]] {
            let schema = TestSchema.tables[1].indexes.first { $0.name == name }!
            var entries: [RowKey: [UInt8]] = [:]
            for (key, value) in rows["people"] ?? [:] {
                if let indexKey = schema.key(key, value) {
                    entries[indexKey] = schema.kind == .covering ? value : IndexReference.encode(key)
                }
            }
            return entries
        }
    }

    enum Op {
        case put(String, RowKey, [UInt8])
        case delete(String, RowKey)
    }

    static func randomOp(_ random: inout SeededGenerator) -> Op {
        let partitionKeys: [[UInt8]] = (0..<6).map { [UInt8($0)] }
        if Int.random(in: 0..<3, using: &random) == 0 {
            // people: pk = id (1 byte), value = "city:name" from small vocabularies.
            let id = RowKey(partitionKey: [UInt8.random(in: 0..<12, using: &random)])
            if Int.random(in: 0..<4, using: &random) == 0 { return .delete("people", id) }
            let city = ["oslo", "rome", "lima"].randomElement(using: &random)!
            let name = ["ann", "bob", "cid", "dan"].randomElement(using: &random)!
            return .put("people", id, Array("\(city):\(name)".utf8))
        }
        let key = RowKey(partitionKey: partitionKeys.randomElement(using: &random)!,
                         sortKey: (0..<Int.random(in: 0...3, using: &random)).map { _ in UInt8.random(in: 0..<4, using: &random) })
        if Int.random(in: 0..<4, using: &random) == 0 { return .delete("kv", key) }
        let value = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        return .put("kv", key, value)
    }

    func check(_ store: Store, _ model: Model) throws {
        let kv = try store.table("kv")
        let people = try store.table("people")
        for pk in 0..<6 {
            let expected = (model.rows["kv"] ?? [:]).filter { $0.key.partitionKey == [UInt8(pk)] }
                .sorted { compareBytes($0.key.sortKey, $1.key.sortKey) < 0 }
            let rows = try store.scan(kv, partitionKey: [UInt8(pk)], limit: 1000)
            #expect(rows.map(\.sortKey) == expected.map(\.key.sortKey))
            #expect(rows.map(\.value) == expected.map(\.value))
            if let middle = expected.dropFirst(expected.count / 2).first {
                let after = try store.scan(kv, partitionKey: [UInt8(pk)], from: .after(middle.key.sortKey), limit: 2)
                #expect(after.map(\.sortKey) == expected.filter { compareBytes($0.key.sortKey, middle.key.sortKey) > 0 }.prefix(2).map(\.key.sortKey))
            }
            for (key, value) in expected { #expect(try store.get(kv, key) == value) }
        }
        for id in 0..<12 {
            let key = RowKey(partitionKey: [UInt8(id)])
            #expect(try store.get(people, key) == model.rows["people"]?[key])
        }
        for indexName in ["by-city", "by-name"] {
            let index = try store.index(indexName, on: "people")
            let expected = model.index(indexName)
            for pk in Set(expected.keys.map(\.partitionKey)).union([Array("oslo".utf8), Array("ann".utf8)]) {
                let want = expected.filter { $0.key.partitionKey == pk }.sorted { compareBytes($0.key.sortKey, $1.key.sortKey) < 0 }
                let got = try store.scan(index, partitionKey: pk, limit: 100)
                #expect(got.map(\.sortKey) == want.map(\.key.sortKey), "index \(indexName) partition \(pk)")
                #expect(got.map(\.value) == want.map(\.value), "index \(indexName) partition \(pk)")
            }
        }
    }

    @Test func randomBatchesWithReopenMatchTheModel() throws {
        var options = StoreOptions()
        options.sync = .none
        options.walSegmentBytes = 8 * 1024
        try run(options: options, steps: 300)
    }

    /// The same with tiny memtables and levels, so that flushes and compactions
    /// (L0 → L1 → L2, tombstones dropped at the bottom) happen many times.
    @Test func randomBatchesWithFlushesAndCompactionsMatchTheModel() throws {
        var options = StoreOptions()
        options.sync = .none
        options.walSegmentBytes = 16 * 1024
        options.memtableBytes = 2 * 1024
        options.memtableBudgetBytes = 32 * 1024
        options.level0CompactionTrigger = 2
        options.levelBaseBytes = 4 * 1024
        options.levelMultiplier = 2
        options.targetFileBytes = 2 * 1024
        options.dictionaryBytes = 0
        options.maxLiveLogSegments = 3
        options.maxManifestBytes = 4 << 10  // the manifest is rewritten many times too
        let statistics = try run(options: options, steps: 800)
        print("flushes \(statistics.flushes), compactions \(statistics.compactions), files/level \(statistics.levelFileCounts)")
        #expect(statistics.flushes > 10)
        #expect(statistics.compactions > 5)
        #expect(statistics.levelFileCounts.dropFirst(2).contains { $0 > 0 })
    }

    @discardableResult
    func run(options: StoreOptions, steps: Int) throws -> StoreStatistics {
        let seed = testSeed()
        var random = SeededGenerator(seed: seed)
        let directory = TestDirectory()
        var store = try TestSchema.open(directory, options: options)
        var model = Model()
        var statistics = StoreStatistics()
        for step in 0..<steps {
            var batch = WriteBatch()
            var ops: [Op] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) { ops.append(Self.randomOp(&random)) }
            for op in ops {
                switch op {
                case .put(let table, let key, let value): batch.put(try store.table(table), key, value: value)
                case .delete(let table, let key): batch.delete(try store.table(table), key)
                }
                model.apply(op)
            }
            try store.write(batch)
            if step % 25 == 0 { try check(store, model) }
            if step % 97 == 0 { try store.settle() }
            if Int.random(in: 0..<40, using: &random) == 0 {
                statistics.flushes += store.statistics.flushes
                statistics.compactions += store.statistics.compactions
                try store.close()
                store = try TestSchema.open(directory, options: options)
                try check(store, model)
            }
        }
        try check(store, model)
        try store.settle()
        try check(store, model)
        statistics.flushes += store.statistics.flushes
        statistics.compactions += store.statistics.compactions
        try store.close()
        store = try TestSchema.open(directory, options: options)
        try check(store, model)
        statistics.levelFileCounts = store.statistics.levelFileCounts
        try store.close()
        return statistics
    }
}
