// `npucc inspect BUNDLE.npub --check-sync`: the proof that the bundle's program orders
// every dependence between its queues with its semaphores (`Program.checkSynchronization`).
import Bundle
import ISA

public enum BundleSynchronization {
    private struct Metadata: Decodable {
        struct ProgramInfo: Decodable { var dram_bytes: Int }
        var program: ProgramInfo
        var machine: Compilation.MachineMemories
    }

    /// Checks the program of `bundle` (read from `path`); a dependence its semaphores leave
    /// unordered is an error naming both instructions.
    public static func check(_ bundle: BundleFile, path: String) throws -> SynchronizationSummary {
        let (_, program, meta) = try BundleProgram.load(bundle, path: path, as: Metadata.self)
        let m = meta.machine
        do {
            return try program.checkSynchronization(
                units: Units(clusters: m.clusters, tilesPerCluster: m.tiles_per_cluster),
                limits: [.dram: meta.program.dram_bytes, .l3: m.l3_bytes, .l2: m.l2_bytes, .sram: m.sram_bytes])
        } catch let e as ISAError {
            throw DriverError(file: path, "section INST: \(e)")
        }
    }

    /// The line `npucc inspect --check-sync` prints.
    public static func line(_ s: SynchronizationSummary) -> String {
        "synchronization: \(s.dependences) dependences between queues, every one ordered by the program's "
            + "\(s.signals) signals and \(s.waits) waits"
    }
}
