// swift-tools-version: 6.1
//
// Micro benchmarks of msgstore's hot paths (package-benchmark). A package of
// its own, so that the product build and `make test` stay lean:
//
//   make bench-micro          (= cd Benchmarks && swift package benchmark)
//
// Speed goals are ratios against RocksDB and LevelDB measured by
// `msgstore bench` and Tools/bench.sh (docs/benchmarks.md); these numbers are
// for spotting regressions in one piece at a time.
//
// BareRoute is the HTTP load's baseline (Tools/http-bench.sh, `make bench-http`):
// the routes the load drives on Hummingbird with no storage.
//
//   swift build -c release --product BareRoute
import PackageDescription

let package = Package(
    name: "msgstore-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "msgstore", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The same specs as the root package's, so BareRoute runs the server's Hummingbird and NIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "MsgStoreBenchmarks",
            dependencies: [
                .product(name: "MsgStore", package: "msgstore"),
                .product(name: "Messaging", package: "msgstore"),
                .product(name: "MessagingEngineStorage", package: "msgstore"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "MsgStoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Tools/http-bench.sh's baseline: msgstore's load routes with no storage.
        // Messaging only for its id and date types (the same wire formatting).
        .executableTarget(
            name: "BareRoute",
            dependencies: [
                .product(name: "Messaging", package: "msgstore"),
                // The server's own page encoders (InboxPageWriter, InboxPageBody): the same work, no storage.
                .product(name: "MsgStoreServer", package: "msgstore"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "BareRoute"
        ),
    ],
    swiftLanguageModes: [.v6]
)
