// Reductions: ReduceMean/Sum/Max/Min/Prod over the axes of their second input, and
// ArgMax/ArgMin along one axis. keepdims keeps reduced axes as 1. TopK, the K largest (or
// smallest) values along one axis and their indices: that axis becomes K. CumSum, the running
// sum along the axis of its second input, keeps its input's shape. Det reduces each square
// matrix of the last two axes to its determinant.

let reductionOps: [OpSchema] =
    [("ReduceMean", 18), ("ReduceSum", 13), ("ReduceMax", 20), ("ReduceMin", 20), ("ReduceProd", 18)]
    .map { (name: String, since: Int) in
        OpSchema(name, since: since, inputs: 1...2, attributes: [.int("keepdims", 1), .int("noop_with_empty_axes", 0)]) { r in
            try r.reduction()
        }
    }
    + ["ArgMax", "ArgMin"].map { name in
        OpSchema(
            name, since: 13, inputs: 1...1,
            attributes: [.int("axis", 0), .int("keepdims", 1), .int("select_last_index", 0)]
        ) { r in
            guard let x = r.dims(0) else { return [TensorType(.int64, nil)] }
            let a = try r.axis(r.int("axis") ?? 0, rank: x.count)
            var out = x
            if (r.int("keepdims") ?? 1) != 0 { out[a] = .known(1) } else { out.remove(at: a) }
            return [TensorType(.int64, Shape(out))]
        }
    }
    + [
        OpSchema("Det", since: 11, inputs: 1...1) { r in
            guard let x = r.dims(0) else { return r.like0(nil) }
            guard x.count >= 2 else { throw r.fail("input \(Shape(x)) has fewer than two axes: Det takes square matrices") }
            if let rows = x[x.count - 2].value, let columns = x[x.count - 1].value, rows != columns {
                throw r.fail("input \(Shape(x)) holds \(rows) x \(columns) matrices: Det takes square ones")
            }
            return r.like0(Array(x.dropLast(2)))
        },
        OpSchema(
            "TopK", since: 11, inputs: 2...2, outputs: 2...2,
            attributes: [.int("axis", -1), .int("largest", 1), .int("sorted", 1)]
        ) { r in
            guard let x = r.dims(0) else { return r.like0(nil) + [TensorType(.int64, nil)] }
            let a = try r.axis(r.int("axis") ?? -1, rank: x.count)
            var out = x
            out[a] = .unknown
            if let k = r.constantInts(1) {
                guard k.count == 1 else { throw r.fail("K must be one value, not \(k.count)") }
                guard k[0] >= 0, x[a].value.map({ k[0] <= $0 }) ?? true else {
                    throw r.fail("K \(k[0]) is out of range for axis \(a) of \(Shape(x))")
                }
                out[a] = .known(k[0])
            }
            return r.like0(out) + [TensorType(.int64, Shape(out))]
        },
        OpSchema("CumSum", since: 14, inputs: 2...2, attributes: [.int("exclusive", 0), .int("reverse", 0)]) { r in
            r.like0(r.dims(0))
        },
        OpSchema("CumProd", since: 26, inputs: 2...2, attributes: [.int("exclusive", 0), .int("reverse", 0)]) { r in
            r.like0(r.dims(0))
        },
    ]

extension ShapeRule {
    /// Reduce*: the axes input (constant) or every axis when it is omitted or empty (unless
    /// noop_with_empty_axes). With axes that are not constant, keepdims still gives the rank.
    func reduction() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        let keep = (int("keepdims") ?? 1) != 0
        var list: [Int]
        if isPresent(1) {
            guard let axes = constantInts(1) else { return like0(keep ? x.map { _ in .unknown } : nil) }
            list = axes
        } else {
            list = []
        }
        if list.isEmpty {
            if (int("noop_with_empty_axes") ?? 0) != 0 { return like0(x) }
            list = Array(x.indices)
        }
        let reduced = Set(try axes(list, rank: x.count))
        return like0(x.indices.compactMap { reduced.contains($0) ? (keep ? .known(1) : nil) : x[$0] })
    }
}
