// Col2Im (opset 18; torch.nn.Fold), imported as the sum it is: the input [N, C·kh·kw, L]
// holds, for each kernel offset (ky, kx), a grid of Lh x Lw blocks' values that land on the
// padded image at rows ky·dh + i·sh and columns kx·dw + j·sw. Each offset's grid is spread
// by its strides (zeros between, `Pad` of an unsqueezed axis, then `Reshape`), moved to its
// place on the padded image (`Pad`, negative at the far end where the spread runs past
// it), and the offsets summed in the reference's order (ky, then kx); the image's pads
// are then cropped.
import IR

extension ImportContext {
    /// Emits Col2Im `node` (input [N, C·∏block, L], image_shape and block_shape constants of
    /// two values each; `dilations`, `pads`, `strides`).
    mutating func emitCol2Im(_ node: Node) throws {
        guard node.inputs.count == 3, let x = node.input(0), let image = node.input(1), let block = node.input(2),
            node.outputs.count == 1, let out = node.outputs.first, !out.isEmpty
        else { throw IRError("takes input, image_shape and block_shape and gives one output", at: node) }
        guard let imageShape = constants[image]?.int64s().map({ Int($0) }),
            let blockShape = constants[block]?.int64s().map({ Int($0) })
        else { throw IRError("needs image_shape and block_shape known when the model is read (constants)", at: node) }
        guard imageShape.count == 2, blockShape.count == 2 else {
            throw IRError(
                "image_shape \(imageShape) and block_shape \(blockShape): Col2Im is supported over two spatial axes only",
                at: node)
        }
        let dilations = node.ints("dilations") ?? [1, 1], strides = node.ints("strides") ?? [1, 1]
        let pads = node.ints("pads") ?? [0, 0, 0, 0]
        guard dilations.count == 2, strides.count == 2, pads.count == 4, dilations.allSatisfy({ $0 > 0 }),
            strides.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 }), blockShape.allSatisfy({ $0 > 0 })
        else {
            throw IRError(
                "dilations \(dilations), strides \(strides) and pads \(pads) must be 2, 2 and 4 values, positive (pads at least 0)",
                at: node)
        }
        let padded: [Int] = [imageShape[0] + pads[0] + pads[2], imageShape[1] + pads[1] + pads[3]]
        let blocks: [Int] = (0..<2).map { d -> Int in
            let reach = dilations[d] * (blockShape[d] - 1) + 1
            return (padded[d] - reach) / strides[d] + 1
        }
        guard blocks.allSatisfy({ $0 >= 1 }) else {
            throw IRError("the blocks of \(blockShape) do not fit the padded image \(padded)", at: node)
        }
        if let dims = knownType(of: x)?.shape?.dims, dims.count == 3, let l = dims[2].value, l != blocks[0] * blocks[1] {
            throw IRError(
                "the input's \(l) blocks are not the \(blocks[0]) x \(blocks[1]) that fit the padded image \(padded)", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        let (kh, kw) = (blockShape[0], blockShape[1])
        let grids = emit("Reshape", "grids", [x, ints([0, -1, kh, kw, blocks[0], blocks[1]], "grids_shape")])
        // Spread by the strides: [N, C, Lh, 1, Lw, 1] padded to [N, C, Lh, sh, Lw, sw].
        let (sh, sw) = (strides[0], strides[1])
        var terms: [String] = []
        for ky in 0..<kh {
            for kx in 0..<kw {
                let step = "offset\(ky)_\(kx)"
                var grid = emit(
                    "Slice", step, [grids, ints([ky, kx], "starts"), ints([ky + 1, kx + 1], "ends"), ints([2, 3], "axes")])
                grid = emit("Squeeze", "\(step)_grid", [grid, ints([2, 3], "axes")])
                if sh > 1 || sw > 1 {
                    let apart = emit("Unsqueeze", "\(step)_apart", [grid, ints([3, 5], "axes")])
                    let spread = emit(
                        "Pad", "\(step)_spread", [apart, ints([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1], "spread_pads")])
                    grid = emit(
                        "Reshape", "\(step)_strided", [spread, ints([0, 0, blocks[0] * sh, blocks[1] * sw], "strided_shape")])
                }
                let (top, left) = (ky * dilations[0], kx * dilations[1])
                let (bottom, right) = (padded[0] - top - blocks[0] * sh, padded[1] - left - blocks[1] * sw)
                terms.append(emit("Pad", "\(step)_placed", [grid, ints([0, 0, top, left, 0, 0, bottom, right], "place_pads")]))
            }
        }
        let sum = terms.count == 1 ? terms[0] : emit("Sum", "sum", terms)
        let base = node.name.isEmpty ? out : node.name
        nodes.append(
            Node(
                op: "Pad", name: "\(base)/Col2Im_cropped",
                inputs: [sum, ints([0, 0, -pads[0], -pads[1], 0, 0, -pads[2], -pads[3]], "crop_pads")], outputs: [out]))
    }
}
