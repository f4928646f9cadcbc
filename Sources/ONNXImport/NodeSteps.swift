// The steps one imported node becomes, made by a helper that holds a copy of the import
// context and gives it back when done: GridSample's, DeformConv's and RoiAlign's samplers.
import IR

protocol NodeSteps {
    var context: ImportContext { get set }
    var node: Node { get }
    /// The float32 scalars made so far, by value.
    var scalars: [Float: String] { get set }
}

extension NodeSteps {
    /// `op` of `inputs` as a step of `node` named `NAME/OP_STEP` (`ImportContext.emitStep`).
    mutating func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:])
        -> String
    {
        context.emitStep(of: node, op, step, inputs, attributes)
    }

    /// A float32 scalar constant of `value`, made once however often it is asked for.
    mutating func float(_ value: Float, _ hint: String) -> String {
        if let made = scalars[value] { return made }
        let made = context.addConstant(Tensor(scalar: value), hint: hint)
        scalars[value] = made
        return made
    }
}

extension ImportContext {
    /// `value`, [N, H, W, C] (a sampler's channels-last result), as `node`'s output
    /// [N, C, H, W]: a Transpose named as the node.
    mutating func emitChannelsFirst(_ value: String, as node: Node) {
        nodes.append(
            Node(
                op: "Transpose", name: node.name, inputs: [value], outputs: node.outputs,
                attributes: ["perm": .ints([0, 3, 1, 2])]))
    }
}
