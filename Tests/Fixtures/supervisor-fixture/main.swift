// A stand-in service for orderd's supervision tests. Behaviour is chosen by environment
// variables at start and by HTTP commands while running:
//
//   METRICS_PORT                 port of /health, /ready, /metrics and the commands
//   FIXTURE_EXIT_AFTER_MS=N      exit by itself after N ms with FIXTURE_EXIT_CODE (default 1)
//   FIXTURE_IGNORE_SIGTERM=1     ignore SIGTERM (only SIGKILL stops it)
//   FIXTURE_GRANDCHILD_PIDFILE=P fork a long-sleeping grandchild and write its pid to P
//   FIXTURE_NEVER_READY=1        /ready always answers 503
//   FIXTURE_STARTS_FILE=P        append one line per start to P (to count starts)
//   FIXTURE_METRICS_DELAY_MS=N   answer /metrics N ms late (fixture_scrapes_total counts them)
//
//   POST /exit/<code>   exit now with <code>      POST /crash       abort()
//   POST /hang          /health stops answering   POST /ready/fail, /ready/pass
import Foundation
import Hummingbird
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
let port = Int(environment["METRICS_PORT"] ?? "") ?? 0
let ready = Atomic<Bool>(environment["FIXTURE_NEVER_READY"] == nil)
let hanging = Atomic<Bool>(false)
let scrapes = Atomic<Int>(0)
let metricsDelay = Int(environment["FIXTURE_METRICS_DELAY_MS"] ?? "") ?? 0

if environment["FIXTURE_IGNORE_SIGTERM"] == "1" {
    signal(SIGTERM, SIG_IGN)
}
if let path = environment["FIXTURE_STARTS_FILE"] {
    let line = "\(getpid()) \(Date().timeIntervalSince1970)\n"
    if let handle = FileHandle(forWritingAtPath: path) {
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
        try? handle.close()
    } else {
        _ = FileManager.default.createFile(atPath: path, contents: Data(line.utf8))
    }
}
if let path = environment["FIXTURE_GRANDCHILD_PIDFILE"] {
    let sleeper = Process()
    sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
    sleeper.arguments = ["1000"]
    try sleeper.run()
    try String(sleeper.processIdentifier).write(toFile: path, atomically: true, encoding: .utf8)
}
if let delay = environment["FIXTURE_EXIT_AFTER_MS"].flatMap(Int.init) {
    let code = Int32(environment["FIXTURE_EXIT_CODE"] ?? "1") ?? 1
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: Double(delay) / 1000)
        print("fixture exiting with \(code) as configured")
        exit(code)
    }
}
print("fixture \(getpid()) listening on \(port)")
// A partial line first, then its end: orderd must forward it as one line.
FileHandle.standardOutput.write(Data("partial-".utf8))
FileHandle.standardOutput.write(Data("line-complete\n".utf8))

let router = Router()
router.get("health") { _, _ -> Response in
    while hanging.load(ordering: .relaxed) { try await Task.sleep(for: .seconds(1)) }
    return Response(status: .ok)
}
router.get("ready") { _, _ in Response(status: ready.load(ordering: .relaxed) ? .ok : .serviceUnavailable) }
router.get("metrics") { _, _ in
    let scrape = scrapes.add(1, ordering: .relaxed).newValue
    try await Task.sleep(for: .milliseconds(metricsDelay))
    return "# HELP fixture_up Fixture liveness.\n# TYPE fixture_up gauge\nfixture_up 1\n"
        + "# HELP fixture_scrapes_total Scrapes of /metrics.\n# TYPE fixture_scrapes_total counter\n"
        + "fixture_scrapes_total \(scrape)\n"
}
router.post("exit/:code") { _, context -> Response in
    exit(Int32(context.parameters.get("code") ?? "0") ?? 0)
}
router.post("crash") { _, _ -> Response in abort() }
router.post("hang") { _, _ -> Response in
    hanging.store(true, ordering: .relaxed)
    return Response(status: .ok)
}
router.post("ready/fail") { _, _ -> Response in
    ready.store(false, ordering: .relaxed)
    return Response(status: .ok)
}
router.post("ready/pass") { _, _ -> Response in
    ready.store(true, ordering: .relaxed)
    return Response(status: .ok)
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
// With SIGTERM ignored, no graceful-shutdown signal handler may re-enable it.
try await app.runService(
    gracefulShutdownSignals: environment["FIXTURE_IGNORE_SIGTERM"] == "1" ? [] : [.sigterm, .sigint]
)
