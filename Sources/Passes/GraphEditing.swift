// What passes that add values need: names nothing uses, and a constant matrix transposed.
import IR

extension Graph {
    /// `name`, or `name` with a number appended, that no value, constant or node uses.
    func unusedName(_ name: String) -> String {
        var candidate = name, k = 1
        while constants[candidate] != nil || types[candidate] != nil
            || inputs.contains(where: { $0.name == candidate }) || outputs.contains(where: { $0.name == candidate })
            || nodes.contains(where: { $0.outputs.contains(candidate) || $0.name == candidate })
        {
            k += 1
            candidate = "\(name)\(k)"
        }
        return candidate
    }

    /// Stores `tensor` as a constant under `name`, or a name made from it that nothing uses;
    /// returns the name.
    mutating func addConstant(_ name: String, _ tensor: Tensor) -> String {
        let unique = unusedName(name)
        constants[unique] = tensor
        return unique
    }
}

extension Tensor {
    /// A 2-D float32 tensor [rows, columns] as [columns, rows].
    func transposedMatrix() -> Tensor {
        let (rows, columns) = (shape[0], shape[1])
        let v = floats()
        var out = [Float](repeating: 0, count: v.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = v[r * columns + c] } }
        return Tensor(out, shape: [columns, rows])
    }
}
