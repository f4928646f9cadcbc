// Indexing ops: those that join, cut, select or grow along axes (Concat, Split, Slice,
// Gather, ScatterND, Pad, Resize, Compress), Trilu, which keeps a triangle of the last two,
// and NonZero, NonMaxSuppression and Unique, which list the elements or boxes they keep.
// Their shape operands (split, starts/ends/axes/steps, pads, scales/sizes) are read when
// constant; otherwise only the axes they touch become unknown.

let indexingOps: [OpSchema] = [
    OpSchema("Concat", since: 13, inputs: atLeast(1), attributes: [.required(.int, "axis")]) { r in try r.concat() },
    OpSchema("Split", since: 18, inputs: 1...2, outputs: atLeast(1), attributes: [.int("axis", 0), .int("num_outputs")]) { r in
        try r.split()
    },
    OpSchema("Slice", since: 13, inputs: 3...5) { r in try r.slice() },
    // One row of indices per axis (a scalar as one axis of one element, as onnxruntime takes
    // it), one column per element that is not zero: how many only a constant input tells.
    // Exporters before opset 11 write arange as ConstantOfShape -> NonZero, which folds.
    OpSchema("NonZero", since: 13, inputs: 1...1) { r in
        let rows: Dim = r.dims(0).map { .known(max($0.count, 1)) } ?? .unknown
        guard let x = r.constant(0) else { return [TensorType(.int64, Shape([rows, .unknown]))] }
        return [TensorType(.int64, Shape([rows, .known(x.nonZeroPositions().count)]))]
    },
    // The slices along `axis` (elements of the flattened input without one) whose condition
    // is true; how many only a constant condition tells. A condition may be shorter than the
    // axis (the rest is not kept) or longer with false values past it, as numpy's compress
    // and onnxruntime both take it; a true value past the axis is refused.
    OpSchema("Compress", since: 11, inputs: 2...2, attributes: [.int("axis")]) { r in
        if let c = r.dims(1), c.count != 1 { throw r.fail("condition has rank \(c.count), not 1") }
        guard let x = r.dims(0) else { return r.like0(nil) }
        let a = try r.int("axis").map { try r.axis($0, rank: x.count) }
        let elements = x.allSatisfy { $0.value != nil } ? Dim.known(x.reduce(1) { $0 * $1.value! }) : .unknown
        let whole = a.map { x[$0] } ?? elements
        var kept = Dim.unknown
        if let condition = r.constant(1) {
            let flags = condition.int64s().map { $0 != 0 }
            if let extent = whole.value, let past = flags.indices.last(where: { flags[$0] }), past >= extent {
                throw r.fail(Compress.beyond(past, extent: extent, axis: a))
            }
            kept = .known(flags.filter { $0 }.count)
        }
        guard let a else { return r.like0([kept]) }
        var dims = x
        dims[a] = kept
        return r.like0(dims)
    },
    // The distinct elements (or slices along `axis`), the first place of each, each input
    // element's (slice's) place among them and their counts: how many only the values tell.
    OpSchema("Unique", since: 11, inputs: 1...1, outputs: 1...4, attributes: [.int("axis"), .int("sorted", 1)]) { r in
        let x = r.dims(0)
        let axis = try x.flatMap { x in try r.int("axis").map { try r.axis($0, rank: x.count) } }
        var y: [Dim]? = [.unknown]
        if r.int("axis") != nil { y = x.map { x in x.indices.map { $0 == axis ? .unknown : x[$0] } } }
        let elements: Dim =
            if let x, let axis { x[axis] } else if let x, x.allSatisfy({ $0.value != nil }) {
                .known(x.reduce(1) { $0 * $1.value! })
            } else { .unknown }
        let unique = TensorType(.int64, Shape([.unknown]))
        return [r.result(r.dtype, y), unique, TensorType(.int64, Shape([elements])), unique]
    },
    // [selected, 3] int64 rows of (batch, class, box): how many only the scores tell.
    OpSchema("NonMaxSuppression", since: 11, inputs: 2...5, attributes: [.int("center_point_box", 0)]) { r in
        let format = r.int("center_point_box") ?? 0
        guard format == 0 || format == 1 else { throw r.fail("center_point_box is \(format), not 0 or 1") }
        if let boxes = r.dims(0) {
            guard boxes.count == 3, boxes[2].value == nil || boxes[2].value == 4 else {
                throw r.fail("boxes \(Shape(boxes)) are not [batches, boxes, 4]")
            }
            if let scores = r.dims(1) {
                guard scores.count == 3 else { throw r.fail("scores \(Shape(scores)) are not [batches, classes, boxes]") }
                for (s, b) in [(0, 0), (2, 1)] {
                    if let n = scores[s].value, let m = boxes[b].value, n != m {
                        throw r.fail("scores \(Shape(scores)) do not match boxes \(Shape(boxes))")
                    }
                }
            }
        }
        return [TensorType(.int64, Shape([.unknown, .known(3)]))]
    },
    OpSchema("Trilu", since: 14, inputs: 1...2, attributes: [.int("upper", 1)]) { r in r.like0(r.dims(0)) },
    OpSchema("Gather", since: 13, inputs: 2...2, attributes: [.int("axis", 0)]) { r in
        guard let x = r.dims(0), let indices = r.dims(1) else { return r.like0(nil) }
        let a = try r.axis(r.int("axis") ?? 0, rank: x.count)
        if let n = x[a].value, let values = r.constant(1), values.count <= 4096,
            let bad = values.int64s().first(where: { $0 < -n || $0 >= n })
        {
            throw r.fail("index \(bad) is out of range for axis \(a) of \(Shape(x))")
        }
        return r.like0(Array(x[..<a]) + indices + Array(x[(a + 1)...]))
    },
    OpSchema("ScatterND", since: 18, inputs: 3...3, attributes: [.string("reduction", "none")]) { r in
        // updates: the indices' extents but the last (k), then the data's from k on.
        if let x = r.dims(0), let indices = r.dims(1), let k = indices.last?.value, let updates = r.dims(2) {
            guard k >= 1, k <= x.count else { throw r.fail("index tuples of \(k) values address data of rank \(x.count)") }
            let expected = Array(indices.dropLast()) + Array(x[k...])
            guard updates.count == expected.count,
                zip(updates, expected).allSatisfy({ $0.value == nil || $1.value == nil || $0 == $1 })
            else { throw r.fail("updates \(Shape(updates)) are not \(Shape(expected)) for data \(Shape(x))") }
        }
        if let i = r.type(1)?.dtype, i != .int64 { throw r.fail("indices are \(i.name), not i64") }
        try r.requireSameType([0, 2])
        return r.like0(r.dims(0))
    },
    OpSchema("Pad", since: 21, inputs: 2...4, attributes: [.string("mode", "constant")]) { r in try r.pad() },
    OpSchema(
        "Resize", since: 19, inputs: 1...4,
        attributes: [
            .int("antialias", 0), .ints("axes"), .string("coordinate_transformation_mode", "half_pixel"),
            .float("cubic_coeff_a", -0.75), .int("exclude_outside", 0), .float("extrapolation_value", 0),
            .string("keep_aspect_ratio_policy", "stretch"), .string("mode", "nearest"),
            .string("nearest_mode", "round_prefer_floor"),
        ]
    ) { r in try r.resize() },
]

extension ShapeRule {
    /// Concat: equal ranks, equal extents off the axis, extents on the axis added.
    func concat() throws -> [TensorType?] {
        guard let axisAttribute = int("axis") else { throw fail("Concat requires attribute \"axis\"") }
        try requireSameType(Array(node.inputs.indices))
        let all = node.inputs.indices.map(dims)
        guard let first = all.firstIndex(where: { $0 != nil }), let rank = all[first]?.count else { return like0(nil) }
        guard rank > 0 else { throw fail("input \(first) is a scalar: Concat joins tensors of rank 1 or more") }
        let a = try axis(axisAttribute, rank: rank)
        var out = [Dim](repeating: .unknown, count: rank)
        var total = 0, open: [Dim] = []
        for (i, d) in all.enumerated() {
            guard let d else { open.append(.unknown); continue }
            guard d.count == rank else {
                throw fail("input \(i) has shape \(Shape(d)) of rank \(d.count), input \(first) has rank \(rank)")
            }
            for j in 0..<rank where j != a {
                switch (out[j], d[j]) {
                case (.known(let x), .known(let y)) where x != y:
                    throw fail(
                        "input \(i) has shape \(Shape(d)), which does not concatenate on axis \(a) "
                            + "with input \(first) \(Shape(all[first] ?? [])): extents \(x) and \(y) differ at axis \(j)")
                case (.unknown, _), (.symbol, .known): out[j] = d[j]
                default: break
                }
            }
            if let v = d[a].value { total = try sum([total, v]) } else { open.append(d[a]) }
        }
        out[a] = open.isEmpty ? .known(total) : (open.count == 1 && total == 0 ? open[0] : .unknown)
        return like0(out)
    }

    /// Split: by the split operand's sizes, else into equal parts (the last smaller).
    func split() throws -> [TensorType?] {
        let parts = node.outputs.count
        guard let x = dims(0) else { return Array(repeating: result(dtype, nil), count: parts) }
        guard !x.isEmpty else { throw fail("its input is a scalar: Split cuts tensors of rank 1 or more") }
        let a = try axis(int("axis") ?? 0, rank: x.count)
        var sizes: [Dim]
        if isPresent(1) {
            if let s = constantInts(1) {
                guard s.count == parts, s.allSatisfy({ $0 >= 0 }) else {
                    throw fail("split \(s) does not give one non-negative size for each of the \(parts) outputs")
                }
                if let n = x[a].value, case let total = try sum(s), total != n {
                    throw fail("split \(s) adds up to \(total) but axis \(a) of \(Shape(x)) has \(n)")
                }
                sizes = s.map(Dim.known)
            } else {
                sizes = Array(repeating: .unknown, count: parts)
            }
        } else {
            if let k = int("num_outputs"), k != parts { throw fail("num_outputs is \(k) but the node has \(parts) outputs") }
            if let n = x[a].value {
                let each = ceilingDivide(n, parts)
                sizes = (0..<parts).map { .known(min(each, max(0, n - $0 * each))) }
            } else {
                sizes = parts == 1 ? [x[a]] : Array(repeating: .unknown, count: parts)
            }
        }
        return sizes.map { size in
            var out = x
            out[a] = size
            return result(dtype, out)
        }
    }

    /// Slice: per sliced axis, the clamped start, end and step give the extent.
    func slice() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        let sliced: [Int]?
        if isPresent(3) {
            sliced = try constantInts(3).map { try axes($0, rank: x.count) }
        } else {
            sliced = (constantInts(1)?.count ?? length(1)).map { Array(0..<$0) }
        }
        guard let sliced else { return like0(x.map { _ in .unknown }) }
        var out = x
        guard let starts = constantInts(1), let ends = constantInts(2) else {
            for a in sliced { out[a] = .unknown }
            return like0(out)
        }
        let steps = isPresent(4) ? constantInts(4) : Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, sliced.count == starts.count, steps.map({ $0.count == starts.count }) ?? true else {
            throw fail("starts \(starts), ends \(ends), axes and steps have different lengths")
        }
        for (k, a) in sliced.enumerated() {
            guard let step = steps?[k] else { out[a] = .unknown; continue }
            guard step != 0 else { throw fail("step 0 on axis \(a)") }
            guard let n = x[a].value else {
                // The whole axis (start 0, end past any extent, step 1) keeps even a symbol.
                out[a] = starts[k] == 0 && ends[k] >= Int(Int32.max) && step == 1 ? x[a] : .unknown
                continue
            }
            var b = starts[k] < 0 ? starts[k] + n : starts[k]
            var e = ends[k] < 0 ? ends[k] &+ n : ends[k]
            // Elements from b toward e (exclusive) every |step|, after ONNX's clamping.
            let stride = Int(clamping: step.magnitude)
            if step > 0 {
                b = min(max(b, 0), n)
                e = min(max(e, 0), n)
                out[a] = .known(e > b ? (e - b - 1) / stride + 1 : 0)
            } else {
                b = min(max(b, 0), n - 1)
                e = min(max(e, -1), n - 1)
                out[a] = .known(b > e ? (b - e - 1) / stride + 1 : 0)
            }
        }
        return like0(out)
    }

    /// Pad: each padded axis grows by its begin and end pads (negative pads crop).
    func pad() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        let padded = isPresent(3) ? try constantInts(3).map { try axes($0, rank: x.count) } : Array(x.indices)
        guard let padded, let pads = constantInts(1) else {
            return like0(x.indices.map { padded?.contains($0) == false ? x[$0] : .unknown })
        }
        guard pads.count == 2 * padded.count else {
            throw fail("pads has \(pads.count) values for \(padded.count) axes (it needs a begin and an end per axis)")
        }
        var out = x
        for (k, a) in padded.enumerated() {
            let begin = pads[k], end = pads[k + padded.count]
            guard begin != 0 || end != 0 else { continue }
            guard let n = x[a].value else { out[a] = .unknown; continue }
            let grown = try sum([n, begin, end])
            guard grown >= 0 else { throw fail("pads \(pads) crop axis \(a) of \(Shape(x)) below zero") }
            out[a] = .known(grown)
        }
        return like0(out)
    }

    /// Resize: `sizes` (with keep_aspect_ratio_policy), else floor(extent * scale), on the
    /// axes the `axes` attribute names (all by default).
    func resize() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        let resized = try ints("axes").map { try axes($0, rank: x.count) } ?? Array(x.indices)
        var out = x
        if isPresent(3) {
            guard let sizes = constantInts(3) else { return like0(x.indices.map { resized.contains($0) ? .unknown : x[$0] }) }
            guard sizes.count == resized.count else {
                throw fail("sizes \(sizes) has \(sizes.count) values for \(resized.count) axes")
            }
            if let bad = sizes.first(where: { $0 < 0 }) { throw fail("sizes \(sizes) holds \(bad): sizes cannot be negative") }
            let policy = string("keep_aspect_ratio_policy") ?? "stretch"
            if policy == "stretch" {
                for (k, a) in resized.enumerated() { out[a] = .known(sizes[k]) }
                return like0(out)
            }
            guard policy == "not_larger" || policy == "not_smaller" else {
                throw fail("keep_aspect_ratio_policy \"\(policy)\" is not stretch, not_larger or not_smaller")
            }
            let extents = resized.compactMap { x[$0].value }
            guard extents.count == resized.count else { return like0(x.indices.map { resized.contains($0) ? .unknown : x[$0] }) }
            let ratios = zip(sizes, extents).map { Double($0) / Double($1) }
            let scale = (policy == "not_larger" ? ratios.min() : ratios.max()) ?? 1
            for (k, a) in resized.enumerated() { out[a] = .known(try extent(roundingDown: scale * Double(extents[k]) + 0.5)) }
            return like0(out)
        }
        guard isPresent(2) else { throw fail("Resize needs scales or sizes") }
        guard let scales = constant(2)?.floats() else { return like0(x.indices.map { resized.contains($0) ? .unknown : x[$0] }) }
        guard scales.count == resized.count else { throw fail("scales has \(scales.count) values for \(resized.count) axes") }
        if let bad = scales.first(where: { !($0 > 0) }) { throw fail("scales \(scales) holds \(bad): scales must be positive") }
        // floor(extent · scale), tf_crop_and_resize's too: onnxruntime and ONNX's reference
        // give that extent, not the roi's share of it that the operator's text describes.
        for (k, a) in resized.enumerated() where scales[k] != 1 {
            out[a] = try x[a].value.map { .known(try extent(roundingDown: Double(Float($0) * scales[k]))) } ?? .unknown
        }
        return like0(out)
    }
}

/// Compress's wording, shared by the shape rule and the interpreter.
public enum Compress {
    /// A condition true at `index`, past the `extent` slices (elements) it selects from.
    public static func beyond(_ index: Int, extent: Int, axis: Int?) -> String {
        "condition is true at \(index), past the \(extent) \(axis.map { "slices along axis \($0)" } ?? "elements") of the input"
    }
}
