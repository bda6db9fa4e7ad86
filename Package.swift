// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "order-platform",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "order-service", targets: ["order-service"]),
        .executable(name: "payment-service", targets: ["payment-service"]),
        .executable(name: "inventory-service", targets: ["inventory-service"]),
        .executable(name: "notification-service", targets: ["notification-service"]),
        .executable(name: "embedded-kafka", targets: ["embedded-kafka"]),
        .executable(name: "orderd", targets: ["orderd"]),
        .executable(name: "order-bench", targets: ["order-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // EnvironmentVariablesProvider and InMemoryProvider need no trait (`traits: []` needs tools 6.1;
        // the default trait, JSON, adds no dependency).
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(name: "CProcessControl"),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(name: "PrometheusExposition"),
        // A service's database behind one interface: SQLite (GRDB) or PostgreSQL (PostgresNIO).
        .target(
            name: "Storage",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Supervisor",
            dependencies: [
                "Kafka", "OrderEvents", "ServiceKit", "Storage", "PrometheusExposition", "CSystemd", "CProcessControl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "orderd",
            dependencies: [
                "Supervisor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "supervisor-fixture",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Tests/Fixtures/supervisor-fixture"
        ),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "OrderEvents",
            dependencies: []
        ),
        .target(
            name: "ServiceKit",
            dependencies: [
                "Kafka",
                "Storage",
                "OrderEvents",
                "CProcessControl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "OrderService",
            dependencies: [
                "ServiceKit", "OrderEvents",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "Storage",
            ]
        ),
        .target(
            name: "PaymentService",
            dependencies: [
                "ServiceKit", "OrderEvents", "Storage",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .target(
            name: "InventoryService",
            dependencies: [
                "ServiceKit", "OrderEvents", "Storage",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .target(
            name: "NotificationService",
            dependencies: [
                "ServiceKit", "OrderEvents", "Storage",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .executableTarget(name: "order-service", dependencies: ["OrderService", "ServiceKit"]),
        .executableTarget(name: "payment-service", dependencies: ["PaymentService", "ServiceKit"]),
        .executableTarget(name: "inventory-service", dependencies: ["InventoryService", "ServiceKit"]),
        .executableTarget(name: "notification-service", dependencies: ["NotificationService", "ServiceKit"]),
        .executableTarget(
            name: "embedded-kafka",
            dependencies: [
                "Kafka", "OrderEvents",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "order-bench",
            dependencies: [
                "Kafka", "OrderEvents", "Supervisor", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The mutation fuzzer the parser tests share (no dependency: it knows no parser).
        .target(name: "Fuzzing", path: "Tests/Fuzzing"),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // Starts a real PostgreSQL server for the suites that run against both backends.
        .target(
            name: "StorageTesting",
            dependencies: [
                "Storage", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StorageTesting"
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage", "StorageTesting", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "OrderEventsTests", dependencies: ["OrderEvents", "Fuzzing"]),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: [
                "ServiceKit", "StorageTesting", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "OrderServiceTests",
            dependencies: [
                "OrderService", "Fuzzing", "StorageTesting",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PaymentServiceTests",
            dependencies: [
                "PaymentService", "StorageTesting", .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "InventoryServiceTests",
            dependencies: [
                "InventoryService", "StorageTesting", .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(name: "NotificationServiceTests", dependencies: ["NotificationService", "StorageTesting"]),
        .testTarget(
            name: "PrometheusExpositionTests",
            dependencies: ["PrometheusExposition", "Fuzzing"],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "SupervisorTests",
            dependencies: [
                "Supervisor", "Fuzzing", "Storage",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Kafka", "OrderEvents", "Supervisor", "ServiceKit", "Storage", "StorageTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
