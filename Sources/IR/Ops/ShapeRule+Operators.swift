// The shape rules that need more than a line: broadcasting, windows (Conv, pooling),
// ConvTranspose, MatMul, Reshape, Concat, Split, Slice, Resize and reductions.

extension ShapeRule {
    /// Numpy broadcasting over dims; nil if any rank is unknown.
    func broadcast(_ all: [[Dim]?]) throws -> [Dim]? {
        var shapes: [[Dim]] = []
        for s in all { guard let s else { return nil }; shapes.append(s) }
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Dim](repeating: .known(1), count: rank)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let o = rank - s.count + i
                switch (out[o], d) {
                case (.known(1), _): out[o] = d
                case (_, .known(1)): break
                case (.known(let a), .known(let b)) where a != b:
                    throw IRError("shapes \(shapes.map { Shape($0).description }.joined(separator: " and ")) do not broadcast", at: node)
                case (.known, _): break
                case (_, .known): out[o] = d
                case (.symbol(let a), .symbol(let b)) where a == b: break
                default: out[o] = .unknown
                }
            }
        }
        return out
    }

    func product(_ d: [Dim]) -> Dim {
        var p = 1
        for x in d { guard let v = x.value else { return d.count == 1 ? x : .unknown }; p *= v }
        return .known(p)
    }

    func window() throws -> [TensorType?] {
        guard let x = dims(0), x.count >= 3 else { return same(dtype, nil) }
        var channels = x[1]
        var kernel: [Int]
        if node.op == "Conv" {
            guard let w = type(1)?.shape?.concrete else { return same(dtype, [x[0]] + Array(repeating: .unknown, count: x.count - 1)) }
            let group = node.int("group", default: 1)
            if let c = x[1].value, c != w[1] * group {
                throw IRError("input has \(c) channels but the weight \(w) expects \(w[1] * group) (group \(group))", at: node)
            }
            channels = .known(w[0])
            kernel = Array(w[2...])
        } else {
            guard let k = node.ints("kernel_shape") else { throw IRError("kernel_shape is required", at: node) }
            kernel = k
        }
        let r = x.count - 2
        guard kernel.count == r else { throw IRError("kernel has \(kernel.count) dimensions for input rank \(x.count)", at: node) }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let pads = node.ints("pads") ?? Array(repeating: 0, count: 2 * r)
        let auto = node.string("auto_pad", default: "NOTSET"), ceil = node.int("ceil_mode", default: 0) != 0
        var out: [Dim] = [x[0], channels]
        for d in 0..<r {
            guard let n = x[d + 2].value else { out.append(.unknown); continue }
            let extent = (kernel[d] - 1) * dil[d] + 1
            switch auto {
            case "SAME_UPPER", "SAME_LOWER": out.append(.known((n + strides[d] - 1) / strides[d]))
            case "VALID": out.append(.known((n - extent) / strides[d] + 1))
            default:
                let span = n + pads[d] + pads[d + r] - extent
                var o = (ceil ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1
                if ceil && (o - 1) * strides[d] >= n + pads[d] { o -= 1 }
                guard span >= 0 && o > 0 else {
                    throw IRError("input extent \(n) is smaller than the window \(extent) at spatial axis \(d)", at: node)
                }
                out.append(.known(o))
            }
        }
        return same(dtype, out) + (node.outputs.count > 1 ? [TensorType(.int64, Shape(out))] : [])
    }

    func convTranspose() throws -> [TensorType?] {
        guard let x = dims(0), let w = type(1)?.shape?.concrete, x.count >= 3 else { return same(dtype, nil) }
        let r = x.count - 2, group = node.int("group", default: 1)
        var out: [Dim] = [x[0], .known(w[1] * group)]
        if let shape = node.ints("output_shape") {
            return same(dtype, out + shape.suffix(r).map { .known($0) })
        }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let pads = node.ints("pads") ?? Array(repeating: 0, count: 2 * r)
        let outPad = node.ints("output_padding") ?? Array(repeating: 0, count: r)
        let auto = node.string("auto_pad", default: "NOTSET")
        for d in 0..<r {
            guard let n = x[d + 2].value else { out.append(.unknown); continue }
            if auto == "SAME_UPPER" || auto == "SAME_LOWER" { out.append(.known(n * strides[d])); continue }
            out.append(.known(strides[d] * (n - 1) + outPad[d] + (w[d + 2] - 1) * dil[d] + 1 - pads[d] - pads[d + r]))
        }
        return same(dtype, out)
    }

    func matMul() throws -> [TensorType?] {
        guard var a = dims(0), var b = dims(1) else { return same(dtype, nil) }
        let aVector = a.count == 1, bVector = b.count == 1
        if aVector { a = [.known(1)] + a }
        if bVector { b = b + [.known(1)] }
        if let k1 = a.last?.value, let k2 = b[b.count - 2].value, k1 != k2 {
            throw IRError("inner dimensions \(k1) and \(k2) differ", at: node)
        }
        guard var out = try broadcast([Array(a.dropLast(2)), Array(b.dropLast(2))]) else { return same(dtype, nil) }
        if !aVector { out.append(a[a.count - 2]) }
        if !bVector { out.append(b[b.count - 1]) }
        return same(dtype, out)
    }

    func reshape() throws -> [Dim]? {
        guard let spec = ints(1) else {
            if shapeValues.count > 1, let symbolic = shapeValues[1] {
                return ShapeValues.reshape(input: dims(0), spec: symbolic, allowZero: node.int("allowzero", default: 0) != 0)
            }
            return type(1)?.shape?.concrete.map { Array(repeating: Dim.unknown, count: $0.first ?? 0) }
        }
        let input = dims(0)
        var out: [Dim] = []
        var inferred: Int?
        for (i, d) in spec.enumerated() {
            if d == 0 && node.int("allowzero", default: 0) == 0 {
                guard let input, i < input.count else { out.append(.unknown); continue }
                out.append(input[i])
            } else if d == -1 {
                inferred = i
                out.append(.unknown)
            } else {
                out.append(.known(d))
            }
        }
        if let i = inferred, let total = input.flatMap({ Shape($0).concrete })?.reduce(1, *) {
            let known = out.enumerated().filter { $0.offset != i }.compactMap(\.element.value).reduce(1, *)
            guard known > 0, total % known == 0 else { throw IRError("cannot reshape \(Shape(input!)) to \(spec)", at: node) }
            out[i] = .known(total / known)
        }
        if let c = Shape(out).concrete, let total = input.flatMap({ Shape($0).concrete })?.reduce(1, *), c.reduce(1, *) != total {
            throw IRError("cannot reshape \(Shape(input!)) (\(total) elements) to \(spec)", at: node)
        }
        return out
    }

    func concat() throws -> [TensorType?] {
        guard let first = dims(0) else { return same(dtype, nil) }
        let a = try axis(node.int("axis", default: 0), first.count)
        var total = 0
        var known = true
        var out = first
        for i in 0..<node.inputs.count {
            guard let d = dims(i) else { return same(dtype, out.enumerated().map { $0.offset == a ? .unknown : $0.element }) }
            guard d.count == first.count else { throw IRError("inputs have ranks \(first.count) and \(d.count)", at: node) }
            for j in 0..<d.count where j != a {
                if let x = out[j].value, let y = d[j].value, x != y {
                    throw IRError("input \(i) has shape \(Shape(d)), which does not concatenate with \(Shape(first)) on axis \(a)", at: node)
                }
                if out[j].value == nil, d[j].value != nil { out[j] = d[j] }
            }
            if let v = d[a].value { total += v } else { known = false }
        }
        out[a] = known ? .known(total) : .unknown
        return same(dtype, out)
    }

    func split() throws -> [TensorType?] {
        guard let d = dims(0) else { return Array(repeating: dtype.map { TensorType($0, nil) }, count: node.outputs.count) }
        let a = try axis(node.int("axis", default: 0), d.count)
        let parts = node.outputs.count
        var sizes: [Dim]
        if let s = ints(1) {
            sizes = s.map { .known($0) }
        } else if let n = d[a].value {
            let each = (n + parts - 1) / parts
            sizes = (0..<parts).map { .known(min(each, max(0, n - $0 * each))) }
        } else {
            sizes = Array(repeating: .unknown, count: parts)
        }
        return sizes.map { s in
            var out = d
            out[a] = s
            return dtype.map { TensorType($0, Shape(out)) }
        }
    }

    func slice() throws -> [Dim]? {
        guard let d = dims(0) else { return nil }
        guard let starts = ints(1), let ends = ints(2) else { return d.map { _ in .unknown } }
        let axes = try ints(3).map { try $0.map { try axis($0, d.count) } } ?? Array(0..<starts.count)
        guard node.inputs.count <= 3 || node.inputs[3].isEmpty || ints(3) != nil else { return d.map { _ in .unknown } }
        let steps = ints(4) ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw IRError("starts, ends, axes and steps have different lengths", at: node)
        }
        var out = d
        for (k, a) in axes.enumerated() {
            guard let n = d[a].value else { out[a] = .unknown; continue }
            var b = starts[k], e = ends[k]
            let s = steps[k]
            guard s != 0 else { throw IRError("step 0 on axis \(a)", at: node) }
            if b < 0 { b += n }
            if e < 0 { e += n }
            if s > 0 {
                b = min(max(b, 0), n); e = min(max(e, 0), n)
                out[a] = .known(e > b ? (e - b + s - 1) / s : 0)
            } else {
                b = min(max(b, -1), n - 1); e = min(max(e, -1), n - 1)
                out[a] = .known(b > e ? (b - e - s - 1) / -s : 0)
            }
        }
        return out
    }

    func resize() -> [Dim]? {
        guard let d = dims(0) else { return nil }
        if let sizes = ints(3), sizes.count == d.count { return sizes.map { .known($0) } }
        if let scales = constant(2)?.floats(), scales.count == d.count {
            return zip(d, scales).map { dim, s in s == 1 ? dim : (dim.value.map { .known(Int((Float($0) * s).rounded(.down))) } ?? .unknown) }
        }
        return d.map { _ in .unknown }
    }

    func reduce() throws -> [Dim]? {
        guard let d = dims(0) else { return nil }
        let keep = node.int("keepdims", default: 1) != 0
        var axes: [Int]
        if let a = ints(1) { axes = a } else if node.inputs.count > 1 && !node.inputs[1].isEmpty { return nil } else { axes = [] }
        if axes.isEmpty {
            if node.int("noop_with_empty_axes", default: 0) != 0 { return d }
            axes = Array(0..<d.count)
        }
        let set = Set(try axes.map { try axis($0, d.count) })
        return d.enumerated().compactMap { set.contains($0.offset) ? (keep ? .known(1) : nil) : $0.element }
    }
}
