// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "ddl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ddl", targets: ["ddl"]),
        .library(name: "DDLCore", targets: ["DDLCore"]),
        .library(name: "DDLTLS", targets: ["DDLTLS"]),
        .library(name: "DDLTrackerClient", targets: ["DDLTrackerClient"]),
        .library(name: "DDLTracker", targets: ["DDLTracker"]),
        .library(name: "DDLPeer", targets: ["DDLPeer"]),
        .library(name: "DDLClient", targets: ["DDLClient"]),
        .library(name: "DDLApp", targets: ["DDLApp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["JSON", "YAML"]),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // Models, protocol and pure state machines: no I/O.
        .target(name: "DDLCore"),
        // TLS identities (self-signed, kept in the state directory) and certificate pinning.
        .target(
            name: "DDLTLS",
            dependencies: [
                "DDLCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "DDLTrackerClient",
            dependencies: [
                "DDLCore", "DDLTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .target(
            name: "DDLServerSupport",
            dependencies: [
                "DDLCore", "DDLTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "DDLTracker",
            dependencies: [
                "DDLCore", "DDLServerSupport", "DDLTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DDLPeer",
            dependencies: [
                "DDLCore", "DDLServerSupport", "DDLTrackerClient", "DDLTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "CDDLSystem"),
        .target(
            name: "DDLClient",
            dependencies: [
                "DDLCore", "DDLTrackerClient", "DDLTLS", "CDDLSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
            ]
        ),
        .target(
            name: "DDLTestOrigin",
            dependencies: [
                "DDLCore", "DDLServerSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "DDLApp",
            dependencies: [
                "DDLCore", "DDLTrackerClient", "DDLTLS", "DDLTracker", "DDLPeer", "DDLClient", "DDLTestOrigin",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ddl",
            dependencies: [
                "DDLApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DDLTests",
            dependencies: [
                "DDLCore", "DDLTrackerClient", "DDLServerSupport", "DDLTracker", "DDLPeer", "DDLClient", "DDLTestOrigin", "DDLApp", "DDLTLS",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
    ]
)

// `DDL_WERROR=1` (set by .ci/run) makes warnings in this package's own targets errors.
// Dependencies are not affected: SwiftPM builds remote packages with their warnings
// suppressed. Set it for `swift build` and `swift test` alike, or the second rebuilds.
// (C warnings only for the C target: on a Swift target the C setting would also reach
// the headers it imports from dependencies, as `-Xcc -Werror`.)
if let value = Context.environment["DDL_WERROR"], !value.isEmpty, value != "0" {
    for target in package.targets {
        if target.name == "CDDLSystem" {
            target.cSettings = (target.cSettings ?? []) + [.treatAllWarnings(as: .error)]
        } else {
            target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
        }
    }
}
