// What a command tells its user besides its results: log lines through swift-log on stderr
// (stages and timings with --verbose), progress bars while stderr is a terminal, and the
// warnings, collected and summarised once at the end. --quiet leaves errors only.
import Foundation
import Logging

/// How much a command says on stderr.
public enum Verbosity: Sendable, Equatable {
    /// Errors only: no warnings, no progress, no status lines.
    case quiet
    /// Warnings (summarised at the end), progress bars on a terminal, status lines.
    case normal
    /// Also every stage with its elapsed time, and the details below it.
    case verbose

    var logLevel: Logger.Level {
        switch self {
        case .quiet: return .error
        case .normal: return .warning
        case .verbose: return .debug
        }
    }
}

public enum Console {
    /// The compiler's log: stages at `.info`, their details at `.debug`, and warnings, which
    /// are collected for `finish()`. Silent until `configure` runs, so the library stays
    /// quiet when it is used on its own.
    public static var log: Logger { state.withLock { $0.logger } }

    /// Whether progress bars are drawn (stderr is a terminal and the command is not quiet).
    public static var showsProgress: Bool { state.withLock { $0.verbosity != .quiet && $0.terminal } }

    /// The verbosity `configure` set.
    public static var verbosity: Verbosity { state.withLock { $0.verbosity } }

    /// Routes swift-log through the console at `verbosity`; call once, before any log line.
    /// `terminal` says whether stderr is a terminal (progress bars are drawn only there).
    public static func configure(_ verbosity: Verbosity, terminal: Bool = isatty(STDERR_FILENO) != 0) {
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label, logLevel: verbosity.logLevel) }
        state.withLock {
            $0.verbosity = verbosity
            $0.terminal = terminal
            $0.logger = Logger(label: "npucc")
        }
    }

    /// A line of the command's own output on stdout (what it wrote, a summary), unless quiet.
    public static func status(_ line: String) {
        guard verbosity != .quiet else { return }
        endProgress()
        print(line)
    }

    /// Records a warning about `file` for the summary; repeats are counted, not repeated.
    public static func warn(_ message: String, file: String) {
        log.warning("\(file): \(message)")
    }

    /// Prints the collected warnings, each distinct one once with how often it came, then
    /// their number; forgets them. Every command ends with it, whether or not it failed.
    public static func finish() {
        endProgress()
        let (warnings, level) = state.withLock { s -> ([(message: String, count: Int)], Logger.Level) in
            defer { s.warnings = [] }
            return (s.warnings, s.verbosity.logLevel)
        }
        guard !warnings.isEmpty, level <= .warning else { return }
        writeLine(summary(of: warnings))
    }

    /// The warnings' summary: each distinct warning once, in order of first report, with
    /// how often it came, then their number.
    public static func summary(of warnings: [(message: String, count: Int)]) -> String {
        var lines = warnings.map { "npucc: warning: \($0.message)\($0.count > 1 ? " (\($0.count) times)" : "")" }
        let total = warnings.reduce(0) { $0 + $1.count }
        lines.append(
            "npucc: \(total) warning\(total == 1 ? "" : "s")" + (total == warnings.count ? "" : " (\(warnings.count) distinct)"))
        return lines.joined(separator: "\n")
    }

    // MARK: - Shared state

    struct State {
        var verbosity = Verbosity.normal
        var terminal = false
        var logger = Logger(label: "npucc", factory: { _ in SwiftLogNoOpLogHandler() })
        var warnings: [(message: String, count: Int)] = []
        /// The progress bar on screen, redrawn after a log line.
        var progress: String?
        /// The bar `step` advances.
        var bar: ProgressLine?
        let start = Date()
    }

    static let state = Locked(State())

    /// Writes `text` and a newline on stderr, lifting a progress bar over it.
    static func writeLine(_ text: String) {
        state.withLock { s in
            var out = s.progress == nil ? "" : "\r\u{1B}[K"
            out += text + "\n"
            if let bar = s.progress { out += bar }
            FileHandle.standardError.write(Data(out.utf8))
        }
    }

    static func collect(_ warning: String) {
        state.withLock { s in
            if let i = s.warnings.firstIndex(where: { $0.message == warning }) {
                s.warnings[i].count += 1
            } else {
                s.warnings.append((warning, 1))
            }
        }
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// swift-log's handler for the command line: errors at once, warnings collected for the
/// summary, everything else as `npucc: [  1.25 s] what` with the time since start.
struct ConsoleLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch event.level {
        case .warning:
            Console.collect(event.message.description)
        case .error, .critical:
            Console.writeLine("npucc: error: \(event.message)")
        default:
            let elapsed = Date().timeIntervalSince(Console.state.withLock { $0.start })
            Console.writeLine(String(format: "npucc: [%7.2f s] ", elapsed) + event.message.description)
        }
    }
}
