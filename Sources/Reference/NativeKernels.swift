// OpenBLAS chooses its kernels once, as it loads, from the CPU it finds, and each family
// blocks its products differently: sgemm's sums come out in another order, so calibration
// ranges, Hessians and everything after them differ in their last bits from one machine to
// the next (an AMD EPYC runs the Zen kernels, an Intel Xeon with AVX-512 the SkylakeX ones,
// or the generic Prescott ones when Debian's OpenBLAS 0.3.21 does not know the CPU). For the
// same bundle from the same model and flags on every x86-64 machine with AVX2 and FMA, the
// commands call `ensure()` before any work: unless OpenBLAS already runs the Haswell
// kernels, the process runs itself again with OPENBLAS_CORETYPE=Haswell. An
// OPENBLAS_CORETYPE already set is left alone (results may then differ), as is a CPU
// without AVX2 and FMA.
import CBLAS
import Foundation

public enum NativeKernels {
    /// The kernel family OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", ...).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The kernel family every machine that can run it computes with.
    public static let pinned = "Haswell"

    /// Whether this CPU runs the pinned kernels: AVX2 and FMA, from its /proc/cpuinfo flags.
    static func runsPinned() -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return false }
        return Set(line.split(separator: " ").map(String.init)).isSuperset(of: ["avx2", "fma"])
    }

    /// Re-executes the process with the pinned kernels when OpenBLAS chose others on a CPU
    /// that runs them. Returns (without doing anything) otherwise, or when the re-execution
    /// fails.
    public static func ensure() {
        guard getenv("OPENBLAS_CORETYPE") == nil, current != pinned, runsPinned() else { return }
        setenv("OPENBLAS_CORETYPE", pinned, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // Still here: the exec failed; carry on with the kernels there are.
    }
}
