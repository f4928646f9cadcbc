// A target description written back as a target file, in the layout of the shipped
// npu-seed.json: fields in the format's order, small objects on one line, one memory a line.

extension TargetDescription {
    /// The description as a target file that `load(path:)` reads back to an equal value;
    /// for the built-in target, byte for byte the shipped npu-seed.json.
    public func json() -> String {
        let c = compute
        var top: [(String, String)] = [("version", "\(version)"), ("name", quoted(name))]
        if let d = description { top.append(("description", quoted(d))) }
        top.append(("clock_hz", "\(clockHz)"))
        let computeFields = [
            ("clusters", "\(c.clusters)"), ("tiles_per_cluster", "\(c.tilesPerCluster)"),
            ("mac_array", inline([("rows", "\(c.macArray.rows)"), ("columns", "\(c.macArray.columns)")])),
            ("mac_rate", inline(MACPrecision.allCases.map { ($0.rawValue, number(c.macRate[$0])) })),
            ("sparse_2_4_speedup", number(c.sparse24Speedup)),
            ("accumulation", inline([("format", quoted(c.accumulation.format.rawValue)),
                                     ("block_products", "\(c.accumulation.blockProducts)")])),
        ]
        top.append(("compute", block(computeFields, indent: "  ")))
        let levels = memories.map { m in
            "    " + inline([("name", quoted(m.name)), ("scope", quoted(m.scope.rawValue)), ("size_bytes", "\(m.sizeBytes)"),
                            ("bandwidth_bytes_per_cycle", "\(m.bandwidthBytesPerCycle)"),
                            ("latency_cycles", "\(m.latencyCycles)")])
        }
        top.append(("memories", levels.isEmpty ? "[]" : "[\n" + levels.joined(separator: ",\n") + "\n  ]"))
        top.append(("dma", inline([("queues_per_tile", "\(dma.perTile)"), ("queues_per_cluster", "\(dma.perCluster)")])))
        top.append(("vector", inline([("lanes_per_tile", "\(vector.lanesPerTile)"),
                                      ("elementwise_cycles", "\(vector.elementwiseCycles)"),
                                      ("transcendental_cycles", "\(vector.transcendentalCycles)")])))
        top.append(("mode_costs", inline([("mode_switch_cycles", "\(modeCosts.modeSwitchCycles)"),
                                          ("data_rearrangement_cycles", "\(modeCosts.dataRearrangementCycles)"),
                                          ("pipeline_flush_cycles", "\(modeCosts.pipelineFlushCycles)")])))
        top.append(("conversion_costs", inline([("nvfp4_to_fp8_cycles", "\(conversionCosts.nvfp4ToFP8Cycles)"),
                                                ("fp8_to_nvfp4_cycles", "\(conversionCosts.fp8ToNVFP4Cycles)")])))
        top.append(("alignment", inline([("weight_bytes", "\(alignment.weightBytes)"),
                                         ("activation_bytes", "\(alignment.activationBytes)")])))
        return block(top, indent: "") + "\n"
    }
}

/// `{ "a": 1, "b": 2 }` on one line.
private func inline(_ fields: [(String, String)]) -> String {
    "{ " + fields.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + " }"
}

/// An object with one field a line, its fields indented two spaces past `indent`.
private func block(_ fields: [(String, String)], indent: String) -> String {
    "{\n" + fields.map { "\(indent)  \(quoted($0.0)): \($0.1)" }.joined(separator: ",\n") + "\n\(indent)}"
}

/// A JSON string literal.
private func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count)
            + String(u.value, radix: 16)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// A whole number without a fraction (`2`), else Swift's shortest round-tripping form (`1.5`).
private func number(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
}
