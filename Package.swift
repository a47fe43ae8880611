// swift-tools-version: 6.1
//
// msgstore: an embedded storage engine specialized for messaging, and the
// single-binary messaging server built on it. See README.md and docs/.
import PackageDescription

let package = Package(
    name: "msgstore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MsgStore", targets: ["MsgStore"]),
        .library(name: "Messaging", targets: ["Messaging"]),
        .library(name: "MessagingEngineStorage", targets: ["MessagingEngineStorage"]),
        .library(name: "MessagingPostgresStorage", targets: ["MessagingPostgresStorage"]),
        .library(name: "MsgStoreServer", targets: ["MsgStoreServer"]),
        .executable(name: "msgstore", targets: ["msgstore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `GET /metrics`: the swift-metrics API, exposed in Prometheus's text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `make docs`: the MsgStore DocC catalog (Sources/MsgStore/MsgStore.docc). A plugin
        // only; nothing of it is linked into the products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // `--storage postgres`: the messaging storage on PostgreSQL (connection pool, LISTEN/NOTIFY).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // libzstd through pkg-config; `apt-get install -y libzstd-dev` provides it.
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        // CRC-32C with the CPU's instruction (SSE4.2), a few lines of C; the
        // engine falls back to its own software CRC where the CPU lacks it.
        .target(name: "CCRC32C"),
        // Empty except under ThreadSanitizer (`make tsan`): makes contended
        // `Synchronization.Mutex` hand-overs visible to TSan (see its tsan_mutex.c).
        .target(name: "CSanitizerSupport"),
        // The engine: bytes, keys, files. Knows nothing of HTTP or users.
        .target(
            name: "MsgStore",
            dependencies: ["CZstd", "CCRC32C", "CSanitizerSupport"]
        ),
        // The messaging domain: users, blocks, groups, inboxes, fan-out. Talks to
        // storage only through the `MessagingStorage` protocol; knows no engine.
        .target(
            name: "Messaging",
            dependencies: [
                "CSanitizerSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The messaging storage on the engine: the layout of users, blocks,
        // groups, inboxes and the fan-out queue in MsgStore tables.
        .target(
            name: "MessagingEngineStorage",
            dependencies: [
                "Messaging",
                "MsgStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The messaging storage on PostgreSQL (or Citus): tables, per-inbox date heads, the
        // fan-out queue consumed with FOR UPDATE SKIP LOCKED by every server (docs/scaling.md).
        .target(
            name: "MessagingPostgresStorage",
            dependencies: [
                "Messaging",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Tests only: a throwaway PostgreSQL server (initdb + pg_ctl in a temporary directory,
        // as an unprivileged user when run as root) and fresh databases on it.
        .target(name: "PostgresTestSupport"),
        // HTTP: Hummingbird 2 routes, JSON bodies, error mapping, OpenAPI document.
        .target(
            name: "MsgStoreServer",
            dependencies: [
                "Messaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The document is compiled in (OpenAPIDocument.swift); a test checks
            // the two are identical.
            exclude: ["Resources/openapi.yaml"]
        ),
        // The executable: `serve`, `inspect`, `verify`, `bench`.
        .executableTarget(
            name: "msgstore",
            dependencies: [
                "MsgStore",
                "Messaging",
                "MessagingEngineStorage",
                "MessagingPostgresStorage",
                "MsgStoreServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // A small program the crash tests start and kill with SIGKILL.
        .executableTarget(
            name: "MsgStoreTestHelper",
            dependencies: ["MsgStore"]
        ),
        // libFuzzer targets for every decoder (Tools/fuzz.sh, `make fuzz`; docs/reliability.md):
        // the targets (debug builds only: they use `@testable import`), and one executable
        // whose MSGSTORE_FUZZ_TARGET picks the decoder. Only a build with `--sanitize=fuzzer`
        // runs anything; a plain build links an empty program.
        .target(
            name: "MsgStoreFuzzTargets",
            dependencies: ["MsgStore", "Messaging", "MsgStoreServer"]
        ),
        .executableTarget(
            name: "MsgStoreFuzz",
            dependencies: ["MsgStoreFuzzTargets"]
        ),
        .testTarget(
            name: "MsgStoreTests",
            dependencies: ["CZstd", "MsgStore", "MsgStoreTestHelper"]
        ),
        .testTarget(
            name: "MessagingTests",
            dependencies: [
                "Messaging",
                "MessagingEngineStorage",
                "MessagingPostgresStorage",
                "PostgresTestSupport",
                "MsgStore",
                "MsgStoreTestHelper",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MsgStoreServerTests",
            dependencies: [
                "MsgStoreServer",
                "Messaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Start the real `msgstore` binary (built next to the test bundle) and
        // talk HTTP to it.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["PostgresTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
