/// One platform shared by the end-to-end tests that only add orders with their own ids.
/// Started on first use; its processes die with the test run (ORDERD_PID + PR_SET_PDEATHSIG).
actor SharedPlatform {
    static let shared = SharedPlatform()
    private var platform: Task<Platform, any Error>?

    func get() async throws -> Platform {
        if let platform { return try await platform.value }
        let starting = Task {
            try await Platform.start(environment: ["PAYMENT_LIMIT": "10000", "INVENTORY_STOCK": "SKU-1=1000,RARE=1"])
        }
        platform = starting
        return try await starting.value
    }
}
