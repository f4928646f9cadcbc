// `npucc profile MODEL.npub --trace FILE`: the cycle model's schedule as a trace in the Trace
// Event Format that Perfetto (ui.perfetto.dev) and chrome://tracing open. One process per
// cluster, one thread per unit (each tile's matrix and vector units and DMA engines, each
// cluster's own DMA engines), one complete event per instruction that takes time, lasting
// while it holds its unit (its results complete later, by the unit's latency); a first
// process holds the layers, each over the cycles the profile counts for it, so the layer
// rows add up to the latency as the table's do.
import Bundle
import Foundation
import ISA
import Simulator
import Target

public enum ScheduleTrace {
    /// The profile of the bundle at `bundlePath`, as `BundleProfile.profile` gives it, after
    /// writing its schedule's trace to `tracePath` (whole or not at all).
    public static func profile(bundlePath: String, targetPath: String?, tracePath: String) throws -> Profile {
        let (profile, schedule, target, program, ranges) = try BundleProfile.scheduled(
            try BundleReader.read(path: bundlePath), bundlePath: bundlePath, targetPath: targetPath)
        do {
            try AtomicFile.write(json(profile, schedule, target, ranges, program), to: tracePath)
        } catch {
            throw DriverError(file: tracePath, error.message)
        }
        return profile
    }

    static func json(
        _ profile: Profile, _ schedule: Schedule, _ target: TargetDescription, _ ranges: [Range<Int>],
        _ program: Program
    ) -> [UInt8] {
        let levels = target.memories.map(\.name)
        let units = Units(clusters: target.compute.clusters, tilesPerCluster: target.compute.tilesPerCluster)
        // Trace times are microseconds: cycles over cycles per microsecond, exact at 1 GHz.
        let cyclesPerMicrosecond = Double(target.clockHz) / 1e6
        func time(_ cycles: Int) -> String { (Double(cycles) / cyclesPerMicrosecond).description }
        var out: [UInt8] = []
        out.reserveCapacity(160 * schedule.start.count)
        out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n".utf8
        var first = true
        func event(_ text: String) {
            if !first { out += ",\n".utf8 }
            first = false
            out += text.utf8
        }
        func quoted(_ s: String) -> String {
            var r = "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": r += "\\\""
                case "\\": r += "\\\\"
                case _ where c.value < 0x20: r += String(format: "\\u%04x", c.value)
                default: r.unicodeScalars.append(c)
                }
            }
            return r + "\""
        }
        func metadata(_ kind: String, pid: Int, tid: Int? = nil, _ name: String) {
            event(
                "{\"ph\":\"M\",\"name\":\"\(kind)\",\"pid\":\(pid)" + (tid.map { ",\"tid\":\($0)" } ?? "")
                    + ",\"args\":{\"name\":\(quoted(name))}}")
        }
        // Threads: per unit, one per DMA engine of a DMA queue.
        func thread(_ unit: Int, _ engine: Int) -> (pid: Int, tid: Int) {
            let (queue, place) = units.place(of: unit)
            let local = place.tile.map { $0 * (2 + target.dma.perTile) } ?? units.tilesPerCluster * (2 + target.dma.perTile)
            let offset = queue == 0 ? 2 + engine : queue - 1
            return (place.cluster + 1, local + offset)
        }
        metadata("process_name", pid: 0, "layers")
        metadata("thread_name", pid: 0, tid: 0, "layer")
        for c in 0..<units.clusters {
            metadata("process_name", pid: c + 1, "cluster \(c)")
            for t in 0..<units.tilesPerCluster {
                let tile = c * units.tilesPerCluster + t
                metadata("thread_name", pid: c + 1, tid: thread(units.tiles + tile, 0).tid, "t\(t) matrix")
                metadata("thread_name", pid: c + 1, tid: thread(2 * units.tiles + tile, 0).tid, "t\(t) vector")
                for e in 0..<target.dma.perTile {
                    metadata("thread_name", pid: c + 1, tid: thread(tile, e).tid, "t\(t) dma \(e)")
                }
            }
            for e in 0..<target.dma.perCluster {
                metadata("thread_name", pid: c + 1, tid: thread(3 * units.tiles + c, e).tid, "cluster dma \(e)")
            }
        }
        var frontier = 0
        for (layer, range) in zip(profile.layers, ranges) {
            event(
                "{\"ph\":\"X\",\"pid\":0,\"tid\":0,\"name\":\(quoted(layer.name)),\"ts\":\(time(frontier)),"
                    + "\"dur\":\(time(layer.cycles)),\"args\":{\"op\":\(quoted(layer.op)),"
                    + "\"precision\":\(quoted(layer.precision)),\"first_instruction\":\(range.lowerBound),"
                    + "\"instructions\":\(range.count)}}")
            frontier += layer.cycles
            let name = quoted(layer.name)
            for i in range where schedule.unit[i] >= 0 && schedule.released[i] > schedule.start[i] {
                let (pid, tid) = thread(Int(schedule.unit[i]), Int(schedule.engine[i]))
                var args = "\"i\":\(i),\"layer\":\(name),\"complete\":\(time(schedule.end[i]))"
                if schedule.bytes[i] > 0 { args += ",\"bytes\":\(schedule.bytes[i])" }
                if schedule.sourceLevel[i] >= 0 { args += ",\"from\":\"\(levels[Int(schedule.sourceLevel[i])])\"" }
                if schedule.destinationLevel[i] >= 0 { args += ",\"to\":\"\(levels[Int(schedule.destinationLevel[i])])\"" }
                event(
                    "{\"ph\":\"X\",\"pid\":\(pid),\"tid\":\(tid),\"name\":\"\(program.instructions[i].spec.mnemonic)\","
                        + "\"ts\":\(time(schedule.start[i])),\"dur\":\(time(schedule.released[i] - schedule.start[i])),"
                        + "\"args\":{\(args)}}")
            }
        }
        out += "\n]}\n".utf8
        return out
    }
}
