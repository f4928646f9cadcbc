// Rewrites of older operator forms into the canonical (opset 21) form of schemas/ops.md:
// attributes that later opsets turned into inputs, legacy broadcasting, old Softmax
// semantics, Upsample and opset-10 Resize, the per-tensor-only quantization of opset 10, and
// TopK's K as an attribute before opset 10.
import IR

private let legacyBroadcastOps: Set<String> = [
    "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor",
    "Equal", "Greater", "Less",
]
private let reduceOps: Set<String> = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"]

extension ImportContext {
    /// Emits `node` in canonical form (possibly as several nodes).
    mutating func upgrade(_ node: inout Node, originalOp: String) throws {
        switch node.op {
        case "Cast" where opset < 6:
            try upgradeLegacyCast(&node)
        case "Cast" where opset >= 24:
            // Only a cast to float8e8m0 rounds by it, and that type is refused by name.
            node.attributes["round_mode"] = nil
        case "Concat" where opset < 4:
            if node.attributes["axis"] == nil { node.attributes["axis"] = .int(1) }
        case "Reshape" where opset < 5:
            try moveToInputs(&node, ["shape"], from: 1)
        case "RoiAlign" where opset < 16:
            // Before opset 16 the coordinates had no half-pixel offset (and the attribute did not exist).
            guard node.attributes["coordinate_transformation_mode"] == nil else {
                throw IRError("coordinate_transformation_mode is an attribute of RoiAlign from opset 16 on", at: node)
            }
            node.attributes["coordinate_transformation_mode"] = .string("output_half_pixel")
        case "Selu" where opset < 6:
            // Opset 1's defaults are these rounder constants, not opset 6's.
            if node.attributes["alpha"] == nil { node.attributes["alpha"] = .float(1.6732) }
            if node.attributes["gamma"] == nil { node.attributes["gamma"] = .float(1.0507) }
        case "Tile" where opset < 6:
            try upgradeLegacyTile(&node)
        case "QuantizeLinear" where opset >= 23:
            try requireStatedPrecision(&node, attribute: "precision")
        case "DequantizeLinear" where opset >= 23:
            try requireStatedPrecision(&node, attribute: "output_dtype")
        case "Range" where opset >= 27:
            // It sets the precision of float16 and bfloat16 ranges, which are computed in
            // float32 anyway (its default), and does nothing for other types.
            node.attributes["stash_type"] = nil
        case "Slice" where opset < 10:
            try moveToInputs(&node, ["starts", "ends", "axes"], from: 1)
        case "Pad" where opset < 11:
            if let old = node.attributes.removeValue(forKey: "paddings") { node.attributes["pads"] = old }
            try moveToInputs(&node, ["pads"], from: 1)
            let value = node.float("value", default: 0)
            node.attributes["value"] = nil
            if value != 0 { node.inputs.append(scalarConstant(value, like: node.inputs[0], hint: "pad_value")) }
        case "Clip" where opset < 11:
            let low = node.float("min"), high = node.float("max")
            node.attributes["min"] = nil
            node.attributes["max"] = nil
            node.inputs = [
                node.inputs[0],
                low.map { scalarConstant($0, like: node.inputs[0], hint: "clip_min") } ?? "",
                high.map { scalarConstant($0, like: node.inputs[0], hint: "clip_max") } ?? "",
            ]
            trimOmittedInputs(&node)
        case "Split":
            if opset < 13 { try moveToInputs(&node, ["split"], from: 1) }
            // Before opset 18 an equal split names no count: the canonical form states it, so
            // that an exported model is a valid opset-21 Split.
            if node.inputs.count < 2 || node.inputs[1].isEmpty, node.attributes["num_outputs"] == nil {
                node.attributes["num_outputs"] = .int(node.outputs.count)
            }
        case "TopK":
            if opset < 10 {
                guard node.attributes["k"] != nil else { throw IRError("needs attribute k", at: node) }
                try moveToInputs(&node, ["k"], from: 1)
            }
            guard node.inputs.count == 2, node.outputs.count == 2 else {
                throw IRError("takes X and K and gives Values and Indices", at: node)
            }
            if let dtype = knownType(of: node.inputs[0])?.dtype, dtype != .float32, !dtype.isInteger || dtype.isPackedFourBit {
                throw IRError("TopK of \(dtype.name) is not supported (float32 and integers only)", at: node)
            }
        case "Squeeze" where opset < 13, "Unsqueeze" where opset < 13, "ReduceSum" where opset < 13:
            try moveToInputs(&node, ["axes"], from: 1)
        case let op where reduceOps.contains(op) && opset < 18:
            try moveToInputs(&node, ["axes"], from: 1)
        case "Softmax" where opset < 13, "LogSoftmax" where opset < 13:
            try emitLegacySoftmax(node)
            return
        case "Gemm" where opset < 7:
            node.attributes["broadcast"] = nil
        case "BatchNormalization" where opset < 9:
            if node.int("spatial", default: 1) == 0 {
                throw IRError("BatchNormalization with spatial = 0 is not supported", at: node)
            }
            node.attributes["spatial"] = nil
            node.attributes["is_test"] = nil
            node.outputs = Array(node.outputs.prefix(1))
        case "BatchNormalization" where opset < 14:
            node.outputs = Array(node.outputs.prefix(1))
        case "Dropout" where opset < 12:
            node.attributes["ratio"] = nil
            node.attributes["is_test"] = nil
        case "Dropout":
            try requireInference(node)
        case "Mod"
        where node.int("fmod", default: 0) == 0 && knownType(of: node.inputs.first ?? "")?.dtype.isFloatingPoint == true:
            emitFloorRemainder(node)
            return
        case "QuantizeLinear" where opset < 13, "DequantizeLinear" where opset < 13:
            try requirePerTensorScale(node)
        case "Resize" where originalOp == "Upsample" || opset < 11:
            try upgradeUpsample(&node, fromUpsample: originalOp == "Upsample")
        case "Resize" where node.int("antialias", default: 0) != 0:
            if try emitAntialiasedResize(node) { return }
        case "PRelu" where opset < 7:
            upgradeLegacyPRelu(&node)
        case let op where legacyBroadcastOps.contains(op) && opset < 7:
            try upgradeLegacyBroadcast(&node)
        default:
            break
        }
        nodes.append(node)
    }

    /// Moves int-list attributes `keys` into int64 constant inputs starting at `index`;
    /// an absent attribute is an omitted input. A node with none of them is left as it is
    /// (opset 1's Split may already give `split` as an input).
    private mutating func moveToInputs(_ node: inout Node, _ keys: [String], from index: Int) throws {
        guard keys.contains(where: { node.attributes[$0] != nil }) else { return }
        guard node.inputs.count <= index else {
            throw IRError("has both the attribute form and the input form of \(keys.joined(separator: "/"))", at: node)
        }
        for key in keys {
            if let attribute = node.attributes.removeValue(forKey: key) {
                let values: [Int]
                switch attribute {
                case .ints(let v): values = v
                case .int(let v): values = [v]
                default: throw IRError("attribute \"\(key)\" must be ints, not \(attribute.kind)", at: node)
                }
                node.inputs.append(addConstant(Tensor(values.map(Int64.init), shape: [values.count]), hint: key))
            } else {
                node.inputs.append("")
            }
        }
        trimOmittedInputs(&node)
    }

    private func trimOmittedInputs(_ node: inout Node) {
        while let last = node.inputs.last, last.isEmpty { node.inputs.removeLast() }
    }

    /// A scalar constant of the same float type as `value` (float32 when unknown).
    mutating func scalarConstant(_ x: Float, like value: String, hint: String) -> String {
        let dtype = knownType(of: value)?.dtype ?? .float32
        let tensor = Tensor(scalar: x).cast(to: dtype.isFloatingPoint ? dtype : .float32)
        return addConstant(tensor, hint: hint)
    }

    /// Softmax before opset 13 normalizes over all axes from `axis` on, as one flattened
    /// axis. Same as the new form when `axis` is the last axis; otherwise
    /// Flatten(axis) -> op(axis = 1) -> Reshape back to the input's shape.
    private mutating func emitLegacySoftmax(_ node: Node) throws {
        var node = node
        let axis = node.int("axis", default: 1)
        let x = node.inputs.first ?? ""
        if let rank = rank(of: x), axis == rank - 1 || axis == -1 || rank == 0 {
            node.attributes["axis"] = .int(-1)
            nodes.append(node)
            return
        }
        let flat = freshName("\(x)_flat")
        let normalized = freshName("\(x)_normalized")
        let shape = freshName("\(x)_shape")
        nodes.append(
            Node(
                op: "Flatten", name: node.name + "_flatten", inputs: [x], outputs: [flat],
                attributes: ["axis": .int(axis)]))
        nodes.append(
            Node(
                op: node.op, name: node.name, inputs: [flat], outputs: [normalized],
                attributes: ["axis": .int(1)]))
        nodes.append(Node(op: "Shape", name: node.name + "_shape", inputs: [x], outputs: [shape]))
        nodes.append(
            Node(
                op: "Reshape", name: node.name + "_reshape", inputs: [normalized, shape],
                outputs: node.outputs))
    }

    /// Mod with fmod 0 of floats (opset 28), A - floor(A / B) · B with B's sign, imported as
    /// the remainder with A's sign (fmod 1) moved by B where the two signs differ and it is
    /// not 0, a zero taking B's sign: ±∞ and NaN come out as the operator defines them.
    private mutating func emitFloorRemainder(_ node: Node) {
        let (a, b) = (node.inputs[0], node.inputs[1])
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let zero = scalarConstant(0, like: a, hint: "zero")
        let truncated = emit("Mod", "truncated", [a, b], ["fmod": .int(1)])
        let (isZero, negative) = (emit("Equal", "is_zero", [truncated, zero]), emit("Less", "divisor_negative", [b, zero]))
        let differ = emit(
            "Not", "same_sign_not",
            [emit("Equal", "same_sign", [emit("Less", "negative", [truncated, zero]), negative])])
        let moved = emit(
            "Where", "moved",
            [
                emit("And", "moves", [differ, emit("Not", "nonzero", [isZero])]), emit("Add", "plus_divisor", [truncated, b]),
                truncated,
            ])
        let signedZero = emit("Where", "signed_zero", [negative, scalarConstant(-0.0, like: a, hint: "minus_zero"), zero])
        let base = node.name.isEmpty ? node.outputs[0] : node.name
        nodes.append(
            Node(op: "Where", name: "\(base)/Mod_floor", inputs: [isZero, signedZero, moved], outputs: node.outputs))
    }

    /// Dropout from opset 12 drops values only when its `training_mode` input is true: npucc
    /// runs it as inference does (the identity), so a training mode that is true, or known
    /// only at run time, is refused, unless the ratio is a constant 0.
    private func requireInference(_ node: Node) throws {
        guard let mode = node.input(2) else { return }
        if let ratio = node.input(1).flatMap({ constants[$0] }), ratio.count == 1, ratio.double(at: 0) == 0 { return }
        guard let known = constants[mode], known.count == 1 else {
            throw IRError(
                "training_mode \"\(mode)\" is only known at run time; npucc runs Dropout as inference does "
                    + "(export the model in eval mode, or make training_mode a constant false)", at: node)
        }
        if known.double(at: 0) != 0 {
            throw IRError(
                "training_mode is true: Dropout would drop values at random; npucc runs models as inference does "
                    + "(export the model in eval mode)", at: node)
        }
    }

    /// Upsample (opsets 1-9) and Resize (opset 10): scales only, asymmetric coordinates,
    /// nearest rounding down (up where it shrinks). Opset 1's Upsample scales the last two
    /// axes of a 4-D input by `height_scale` and `width_scale`.
    private mutating func upgradeUpsample(_ node: inout Node, fromUpsample: Bool) throws {
        var scales = node.inputs.count > 1 ? node.inputs[1] : ""
        if let height = node.attributes.removeValue(forKey: "height_scale"),
            let width = node.attributes.removeValue(forKey: "width_scale")
        {
            guard case .float(let h) = height, case .float(let w) = width else {
                throw IRError("height_scale and width_scale must be floats", at: node)
            }
            scales = addConstant(Tensor([1, 1, h, w], shape: [4]), hint: "scales")
        }
        if let attribute = node.attributes.removeValue(forKey: "scales") {
            guard case .floats(let values) = attribute else {
                throw IRError("attribute \"scales\" must be floats", at: node)
            }
            scales = addConstant(Tensor(values, shape: [values.count]), hint: "scales")
        }
        guard !scales.isEmpty else { throw IRError("Upsample needs scales", at: node) }
        var mode = node.string("mode", default: "nearest")
        if mode == "bilinear" || mode == "trilinear" { mode = "linear" }
        guard mode == "nearest" || mode == "linear" else {
            throw IRError("\(fromUpsample ? "Upsample" : "Resize") mode \"\(mode)\" is not supported", at: node)
        }
        // Nearest picks floor(o / scale) on an axis it enlarges and ceil(o / scale) on one it
        // shrinks, as onnxruntime runs these opsets; one mode for every axis then: ceil where
        // every changed axis shrinks (an axis of scale 1 maps to itself either way).
        var rounding = "floor"
        if mode == "nearest", let values = constants[scales]?.floats() {
            if values.contains(where: { $0 < 1 }) {
                guard !values.contains(where: { $0 > 1 }) else {
                    throw IRError(
                        "nearest \(fromUpsample ? "Upsample" : "Resize") that shrinks some axes and enlarges others "
                            + "(scales \(values)) is not supported", at: node)
                }
                rounding = "ceil"
            }
        }
        node.op = "Resize"
        node.inputs = [node.inputs[0], "", scales]
        node.attributes = [
            "mode": .string(mode),
            "coordinate_transformation_mode": .string("asymmetric"),
            "nearest_mode": .string(rounding),
        ]
    }

    /// Cast before opset 6 names its target type (`to = "FLOAT"`); later opsets give its
    /// TensorProto code.
    private func upgradeLegacyCast(_ node: inout Node) throws {
        guard case .string(let name)? = node.attributes["to"] else { return }
        let codes = [
            "FLOAT": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7, "STRING": 8,
            "BOOL": 9, "FLOAT16": 10, "DOUBLE": 11, "UINT32": 12, "UINT64": 13,
        ]
        guard let code = codes[name.uppercased()] else {
            throw IRError("Cast to \"\(name)\" names no element type", at: node)
        }
        node.attributes["to"] = .int(code)
    }

    /// Tile before opset 6 repeats its input `tiles` times along one `axis` (both scalar
    /// inputs); it becomes the repeats input of every axis, 1 but there. Both must be
    /// constants and the input's rank known.
    private mutating func upgradeLegacyTile(_ node: inout Node) throws {
        guard node.inputs.count == 3 else { return }
        guard let tiles = constants[node.inputs[1]]?.int64s().first,
            let axis = constants[node.inputs[2]]?.int64s().first, let rank = rank(of: node.inputs[0])
        else {
            throw IRError("opset \(opset) Tile needs constant tiles and axis and an input of known rank", at: node)
        }
        guard (-Int64(rank)..<Int64(rank)).contains(axis) else {
            throw IRError("axis \(axis) is out of range for rank \(rank)", at: node)
        }
        var repeats = [Int](repeating: 1, count: rank)
        repeats[Int(axis < 0 ? axis + Int64(rank) : axis)] = Int(tiles)
        node.inputs = [node.inputs[0], int64Constant(repeats, hint: "repeats")]
    }

    /// QuantizeLinear's `precision` and DequantizeLinear's `output_dtype` (opset 23) may
    /// only state what the canonical form does: the scale's element type (0, or that type).
    private func requireStatedPrecision(_ node: inout Node, attribute: String) throws {
        guard let value = node.attributes.removeValue(forKey: attribute) else { return }
        guard case .int(let code) = value else { throw IRError("attribute \"\(attribute)\" must be an int", at: node) }
        guard code != 0 else { return }
        let scale = node.inputs.count > 1 ? node.inputs[1] : ""
        let scaleType = knownType(of: scale)?.dtype ?? .float32
        guard Int32(truncatingIfNeeded: code) == scaleType.rawValue else {
            let named = DType(rawValue: Int32(truncatingIfNeeded: code))?.name ?? "type \(code)"
            throw IRError(
                "\(attribute) \(named) differs from the scale's \(scaleType.name); only the scale's type is supported",
                at: node)
        }
    }

    /// QuantizeLinear and DequantizeLinear before opset 13 have no axis: the scale is one
    /// value for the whole tensor. The canonical form reads a longer 1-D scale per axis 1,
    /// so such a scale is refused rather than silently reinterpreted.
    private func requirePerTensorScale(_ node: Node) throws {
        guard node.inputs.count > 1 else { return }
        let scale = node.inputs[1]
        let count = constants[scale]?.count ?? types[scale]?.shape?.concrete?.reduce(1, *)
        if let count, count != 1 {
            throw IRError(
                "\(node.op) before opset 13 quantizes per tensor: the scale must hold one value, not \(count)",
                at: node)
        }
    }

    /// PRelu before opset 7 applies a 1-D slope of C values per channel (axis 1); numpy
    /// broadcasting needs it shaped [C, 1, ...].
    private mutating func upgradeLegacyPRelu(_ node: inout Node) {
        guard node.inputs.count == 2, let slope = constants[node.inputs[1]], slope.rank == 1, slope.count > 1,
            let rank = rank(of: node.inputs[0]), rank > 2
        else { return }
        let shape = [slope.count] + Array(repeating: 1, count: rank - 2)
        node.inputs[1] = addConstant(slope.reshaped(shape), hint: node.inputs[1])
    }

    /// Opset < 7 `broadcast = 1` aligns B's axes starting at `axis` of A; numpy broadcasting
    /// aligns trailing axes, so B gets trailing size-1 axes when `axis` is not the default.
    private mutating func upgradeLegacyBroadcast(_ node: inout Node) throws {
        let broadcast = node.int("broadcast", default: 0)
        let axis = node.int("axis")
        node.attributes["broadcast"] = nil
        node.attributes["axis"] = nil
        guard broadcast == 1, let axis, node.inputs.count == 2 else { return }
        let (a, b) = (node.inputs[0], node.inputs[1])
        guard let rankA = rank(of: a), let rankB = rank(of: b) else {
            throw IRError("legacy broadcasting with axis needs the ranks of both operands", at: node)
        }
        let start = axis < 0 ? axis + rankA : axis
        let trailing = rankA - start - rankB
        guard trailing >= 0, start >= 0 else {
            throw IRError("broadcast axis \(axis) does not fit ranks \(rankA) and \(rankB)", at: node)
        }
        guard trailing > 0 else { return }
        if let constant = constants[b] {
            node.inputs[1] = addConstant(constant.reshaped(constant.shape + Array(repeating: 1, count: trailing)), hint: b)
        } else {
            let axes = addConstant(Tensor((rankB..<(rankB + trailing)).map(Int64.init), shape: [trailing]), hint: "axes")
            let expanded = freshName(b + "_expanded")
            nodes.append(Node(op: "Unsqueeze", name: node.name + "_unsqueeze", inputs: [b, axes], outputs: [expanded]))
            node.inputs[1] = expanded
        }
    }
}
