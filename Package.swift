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
        .executable(name: "msgstore", targets: ["msgstore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // libzstd through pkg-config; `apt-get install -y libzstd-dev` provides it.
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        // The engine: bytes, keys, files. Knows nothing of HTTP or users.
        .target(
            name: "MsgStore",
            dependencies: ["CZstd"]
        ),
        // The executable: `serve`, `inspect`, `verify`, `bench`.
        .executableTarget(
            name: "msgstore",
            dependencies: [
                "MsgStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A small program the crash tests start and kill with SIGKILL.
        .executableTarget(
            name: "MsgStoreTestHelper",
            dependencies: ["MsgStore"]
        ),
        .testTarget(
            name: "MsgStoreTests",
            dependencies: ["MsgStore", "MsgStoreTestHelper"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
