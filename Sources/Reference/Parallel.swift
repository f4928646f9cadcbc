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

    /// The threads a loop may use here: one on a thread running one of `parallelTasks`'s
    /// tasks (the task is the unit of parallel work there), else `threadCount`.
    static var loopThreads: Int { pthread_getspecific(insideTask) == nil ? threads : 1 }
}

/// Set (non-nil) on a thread while it runs a task of `parallelTasks`.
private let insideTask: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Runs `body(range)` over `0..<count` in contiguous chunks on up to `threadCount` threads;
/// runs inline when the work (`count * cost`) is small.
@inline(__always)
func parallelChunks(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = Parallelism.loopThreads
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

/// Runs `body(i)` once for every i in `0..<count` on up to `threadCount` threads, each
/// thread taking the next index as it comes free: for independent tasks of uneven size (one
/// layer each), whose results must not depend on the thread that runs them. The loops a
/// task runs (`parallelChunks`, the interpreter's kernels) stay on its thread, and tasks
/// started inside a task run one after another.
public func parallelTasks(_ count: Int, _ body: (Int) -> Void) {
    let threads = min(Parallelism.loopThreads, count)
    guard threads > 1 else {
        for i in 0..<count { body(i) }
        return
    }
    let next = TaskCounter()
    withoutActuallyEscaping(body) { body in
        let shared = SharedTask(run: body)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            pthread_setspecific(insideTask, UnsafeRawPointer(bitPattern: 1))
            defer { pthread_setspecific(insideTask, nil) }
            while let i = next.claim(below: count) { shared.run(i) }
        }
    }
}

/// `body(i)` for every i in `0..<count` as `parallelTasks` runs them, the results in index
/// order; when some throw, the error of the first of them in index order is thrown.
public func parallelResults<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
    var results = [Result<T, Error>?](repeating: nil, count: count)
    results.withUnsafeMutableBufferPointer { out in
        parallelTasks(count) { k in out[k] = Result { try body(k) } }
    }
    return try results.map { try $0!.get() }
}

/// The next unclaimed task index, shared by the workers of `parallelTasks`.
private final class TaskCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    func claim(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

private struct SharedTask: @unchecked Sendable {
    let run: (Int) -> Void
}
