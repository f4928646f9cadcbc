// OpenBLAS chooses its kernels once, as it loads, from the CPUs it recognises. A CPU newer
// than the library falls back to the generic Prescott (SSE3) kernels: Debian's OpenBLAS
// 0.3.21 on a Sapphire Rapids machine runs sgemm several times slower than it could. The
// commands call `ensure()` before any work; when the fallback happened on a CPU with
// AVX-512 or AVX2, the process runs itself again with OPENBLAS_CORETYPE naming the kernels
// the CPU can run. An OPENBLAS_CORETYPE already set is left alone.
import CBLAS
import Foundation

public enum NativeKernels {
    /// The kernel family OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", ...).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The kernel family this CPU supports, from its /proc/cpuinfo flags; nil when unknown.
    static func native() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// Re-executes the process with native kernels when OpenBLAS fell back to generic ones.
    /// Returns (without doing anything) otherwise, or when the re-execution fails.
    public static func ensure() {
        guard getenv("OPENBLAS_CORETYPE") == nil, current == "Prescott", let native = native() else { return }
        setenv("OPENBLAS_CORETYPE", native, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // Still here: the exec failed; carry on with the kernels there are.
    }
}
