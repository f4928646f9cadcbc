// NonMaxSuppression: per image and class, the boxes scoring above `score_threshold` (a NaN
// score above nothing) taken greedily by decreasing score (equal scores by increasing box
// index), each kept unless its
// intersection over union with a box already kept is above `iou_threshold`, until
// `max_output_boxes_per_class` are kept. A detector's last step; the interpreter runs it so
// that a whole exported detector runs with `npucc run`, while the NPU stops before it.
import IR

func nonMaxSuppression(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let boxes = try operand(node, inputs, 0), scores = try operand(node, inputs, 1)
    guard boxes.rank == 3, boxes.shape[2] == 4 else {
        throw IRError("boxes \(boxes.shape) are not [batches, boxes, 4]", at: node)
    }
    let (batches, count) = (boxes.shape[0], boxes.shape[1])
    guard scores.rank == 3, scores.shape[0] == batches, scores.shape[2] == count else {
        throw IRError("scores \(scores.shape) are not [batches, classes, boxes] for boxes \(boxes.shape)", at: node)
    }
    let classes = scores.shape[1]
    let limit = optionalOperand(inputs, 2).flatMap { $0.count > 0 ? $0.int64(at: 0) : nil } ?? 0
    let iou = optionalOperand(inputs, 3).flatMap { $0.count > 0 ? Float($0.double(at: 0)) : nil } ?? 0
    guard iou >= 0 && iou <= 1 else { throw IRError("iou_threshold \(iou) is not between 0 and 1", at: node) }
    let threshold = optionalOperand(inputs, 4).flatMap { $0.count > 0 ? Float($0.double(at: 0)) : nil }
    let centered = node.int("center_point_box", default: 0) == 1
    let corners = boxes.cast(to: .float32).floats(), s = scores.cast(to: .float32).floats()
    var selected: [Int64] = []
    for b in 0..<batches {
        let extents = (0..<count).map { BoxExtent(corners[(b * count + $0) * 4..<(b * count + $0 + 1) * 4], centered: centered) }
        for c in 0..<classes {
            let row = s[((b * classes + c) * count)..<((b * classes + c + 1) * count)]
            // A NaN score is above nothing: its box is never kept.
            let order = row.indices.filter { !row[$0].isNaN && (threshold == nil || row[$0] > threshold!) }
                .sorted { row[$0] > row[$1] || row[$0] == row[$1] && $0 < $1 }
            var kept: [Int] = []
            for i in order where Int64(kept.count) < limit {
                let box = extents[i - row.startIndex]
                if kept.allSatisfy({ !box.overlaps(extents[$0], above: iou) }) { kept.append(i - row.startIndex) }
            }
            for i in kept { selected += [Int64(b), Int64(c), Int64(i)] }
        }
    }
    return Tensor(selected, shape: [selected.count / 3, 3])
}

/// A box as its extent along each axis, from corners in either order ([y1, x1, y2, x2]) or a
/// center and size ([x, y, width, height]).
private struct BoxExtent {
    var x: (low: Float, high: Float)
    var y: (low: Float, high: Float)

    init(_ v: ArraySlice<Float>, centered: Bool) {
        let v = Array(v)
        if centered {
            (x, y) = ((v[0] - v[2] / 2, v[0] + v[2] / 2), (v[1] - v[3] / 2, v[1] + v[3] / 2))
        } else {
            (x, y) = ((min(v[1], v[3]), max(v[1], v[3])), (min(v[0], v[2]), max(v[0], v[2])))
        }
    }

    var area: Float { (x.high - x.low) * (y.high - y.low) }

    /// Whether the intersection over union with `other` is above `threshold`; boxes that do
    /// not meet, and empty ones, never are.
    func overlaps(_ other: BoxExtent, above threshold: Float) -> Bool {
        let (left, right) = (max(x.low, other.x.low), min(x.high, other.x.high))
        let (bottom, top) = (max(y.low, other.y.low), min(y.high, other.y.high))
        guard right > left, top > bottom else { return false }
        let shared = (right - left) * (top - bottom)
        let (a, b) = (area, other.area)
        let union = a + b - shared
        guard shared > 0, a > 0, b > 0, union > 0 else { return false }
        return shared / union > threshold
    }
}
