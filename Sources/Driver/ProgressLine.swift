// A one-line progress bar on stderr while it is a terminal: done/total, elapsed time and
// what is left. Silent otherwise, and with --quiet; redrawn at most ten times a second, so
// parallel workers may advance it freely.
import Foundation

public final class ProgressLine: Sendable {
    public let total: Int
    public let label: String
    private let enabled: Bool
    private let start = Date()
    private let state = Locked((done: 0, drawn: Date.distantPast, finished: false))

    public convenience init(total: Int, label: String) {
        self.init(total: total, label: label, shown: Console.showsProgress)
    }

    init(total: Int, label: String, shown: Bool) {
        self.total = total
        self.label = label
        enabled = shown && total > 1
    }

    /// One more item done (from any thread); true when that was the last.
    @discardableResult
    public func advance() -> Bool {
        let (done, redraw) = state.withLock { s -> (Int, Bool) in
            s.done += 1
            let now = Date()
            guard s.done >= total || now.timeIntervalSince(s.drawn) >= 0.1 else { return (s.done, false) }
            s.drawn = now
            return (s.done, true)
        }
        if redraw { draw(done) }
        return done >= total
    }

    /// Clears the bar (once); with --verbose, logs how long the work took.
    public func finish() {
        guard
            state.withLock({ s -> Bool in
                defer { s.finished = true }
                return !s.finished
            })
        else { return }
        if enabled {
            Console.state.withLock { s in
                s.progress = nil
                FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        Console.log.info("\(label): \(total) in \(Self.duration(elapsed))")
    }

    private func draw(_ done: Int) {
        guard enabled else { return }
        let elapsed = Date().timeIntervalSince(start)
        let width = 30, filled = width * min(done, total) / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var text = "\(label) [\(bar)] \(done)/\(total) " + Self.duration(elapsed)
        if done > 0 && done < total { text += ", ~" + Self.duration(elapsed / Double(done) * Double(total - done)) + " left" }
        Console.state.withLock { s in
            guard !state.withLock({ $0.finished }) else { return }
            s.progress = text
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        }
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1f s", seconds) : String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}

extension Console {
    /// `finished` more items (0 as the work starts, then 1 each) of the work called `label`,
    /// out of `total` (from any thread): the bar for `label` starts with its work and ends at
    /// its last item, or when other work starts. Passes report through
    /// `PassContext.progress`, which commands point here.
    public static func step(_ label: String, of total: Int, finished: Int) {
        // No items, nothing to show (a bar for them would never end).
        guard total > 0 else { return }
        let shown = showsProgress
        let bar = state.withLock { s -> (ProgressLine, ProgressLine?) in
            if let current = s.bar, current.label == label, current.total == total { return (current, nil) }
            let fresh = ProgressLine(total: total, label: label, shown: shown)
            defer { s.bar = fresh }
            return (fresh, s.bar)
        }
        bar.1?.finish()
        for _ in 0..<finished where bar.0.advance() {
            bar.0.finish()
            state.withLock { s in if s.bar === bar.0 { s.bar = nil } }
        }
    }

    /// `step` as `PassContext.progress` and the analysis take it.
    public static let progress: @Sendable (_ label: String, _ total: Int, _ finished: Int) -> Void = {
        step($0, of: $1, finished: $2)
    }

    /// Ends the bar on screen, if any.
    public static func endProgress() {
        state.withLock { s -> ProgressLine? in
            defer { s.bar = nil }
            return s.bar
        }?.finish()
    }
}
