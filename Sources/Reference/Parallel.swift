// Splitting hot loops across cores, and the one thread-count knob the interpreter and
// OpenBLAS share (all cores, or NPUCC_THREADS).
import CBLAS
import Dispatch
import Foundation

public enum Parallelism {
    nonisolated(unsafe) private static var threads: Int = {
        openblas_set_num_threads(1)
        if let text = ProcessInfo.processInfo.environment["NPUCC_THREADS"], let n = Int(text), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Threads used by interpreter loops (GEMMs included) from now on.
    public static func setThreadCount(_ n: Int) {
        _ = threads
        threads = max(1, n)
    }

    public static var threadCount: Int { threads }
}

/// Runs `body(range)` over `0..<count` in contiguous chunks on up to `threadCount` threads;
/// runs inline when the work (`count * cost`) is small.
@inline(__always)
func parallelChunks(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = Parallelism.threadCount
    let (work, overflow) = count.multipliedReportingOverflow(by: cost)
    if threads == 1 || count < 2 || (!overflow && work < 32_768) {
        body(0..<count)
        return
    }
    let chunks = min(count, threads * 4)
    withoutActuallyEscaping(body) { body in
        let shared = SharedBody(run: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            let start = count * k / chunks, end = count * (k + 1) / chunks
            if start < end { shared.run(start..<end) }
        }
    }
}

/// A loop body handed to worker threads: each chunk writes a disjoint part of the output.
private struct SharedBody: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}
