// Sliding-window arithmetic shared by convolution and pooling: output extents and pads
// from kernel, strides, dilations, explicit pads or auto_pad, and ceil_mode.
import IR

public struct WindowGeometry {
    public var input: [Int]
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padBegin: [Int]
    public var padEnd: [Int]
    public var output: [Int]

    var spatialRank: Int { input.count }
    /// A 1x1 window at stride 1 without padding: each output reads the input where it lies.
    var isPointwise: Bool {
        kernel.allSatisfy { $0 == 1 } && strides.allSatisfy { $0 == 1 } && padBegin.allSatisfy { $0 == 0 }
            && padEnd.allSatisfy { $0 == 0 }
    }

    /// A window of stride 1 over an unpadded input.
    init(input: [Int], kernel: [Int], dilations: [Int]) {
        self.input = input
        self.kernel = kernel
        self.dilations = dilations
        strides = Array(repeating: 1, count: input.count)
        (padBegin, padEnd) = (Array(repeating: 0, count: input.count), Array(repeating: 0, count: input.count))
        output = (0..<input.count).map { input[$0] - (kernel[$0] - 1) * dilations[$0] }
    }

    public init(node: Node, input: [Int], kernel: [Int], ceilMode: Bool = false) throws {
        let r = input.count
        self.input = input
        self.kernel = kernel
        (strides, dilations, padBegin, padEnd) = try Self.attributes(node, rank: r, kernel: kernel)
        output = []
        let autoPad = node.string("auto_pad", default: "NOTSET")
        for d in 0..<r {
            let extent = (kernel[d] - 1) * dilations[d] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let out = (input[d] + strides[d] - 1) / strides[d]
                let total = max(0, (out - 1) * strides[d] + extent - input[d])
                padBegin[d] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                padEnd[d] = total - padBegin[d]
                output.append(out)
            case "VALID":
                padBegin[d] = 0
                padEnd[d] = 0
                output.append((input[d] - extent) / strides[d] + 1)
            case "NOTSET":
                let span = input[d] + padBegin[d] + padEnd[d] - extent
                var out = (ceilMode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1
                // A window may not start in the end padding (ceil_mode).
                if ceilMode && (out - 1) * strides[d] >= input[d] + padBegin[d] { out -= 1 }
                output.append(out)
            default:
                throw IRError("auto_pad \"\(autoPad)\" is not supported", at: node)
            }
            guard output[d] > 0 else {
                throw IRError("input extent \(input[d]) is smaller than the window \(extent) at spatial axis \(d)", at: node)
            }
        }
    }
}

extension WindowGeometry {
    /// A windowed op's strides, dilations and pads (each axis's begin, then end), defaults
    /// filled in, checked against `rank` spatial axes and to be positive (pads aside).
    static func attributes(_ node: Node, rank r: Int, kernel: [Int]) throws -> (
        strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]
    ) {
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dilations = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let pads = node.ints("pads") ?? Array(repeating: 0, count: 2 * r)
        guard kernel.count == r, strides.count == r, dilations.count == r, pads.count == 2 * r else {
            throw IRError("kernel, strides, dilations or pads do not match \(r) spatial dimensions", at: node)
        }
        guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
            throw IRError("strides, dilations and kernel sizes must be positive", at: node)
        }
        return (strides, dilations, Array(pads[0..<r]), Array(pads[r...]))
    }
}
