// Buffers the instructions' operands are read into, kept from one instruction to the next,
// so that executing one allocates nothing once they have grown to the program's largest.
import Foundation

final class OperandBuffers {
    enum Slot: Int, CaseIterable {
        case activation, weight, accumulator, scales, packed, bytes, activationCodes, activationScales
    }

    private var pointers: [UnsafeMutableRawPointer?] = Array(repeating: nil, count: Slot.allCases.count)
    private var capacities = [Int](repeating: 0, count: Slot.allCases.count)

    deinit {
        for p in pointers { p?.deallocate() }
    }

    /// `byteCount` bytes of `slot`'s buffer, contents undefined (64-byte aligned).
    func raw(_ slot: Slot, _ byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let s = slot.rawValue
        if capacities[s] < byteCount || pointers[s] == nil {
            pointers[s]?.deallocate()
            let capacity = max(byteCount, 2 * capacities[s], 64)
            pointers[s] = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
            capacities[s] = capacity
        }
        return UnsafeMutableRawBufferPointer(start: pointers[s], count: byteCount)
    }

    /// `count` floats of `slot`'s buffer, contents undefined.
    func floats(_ slot: Slot, _ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let raw = raw(slot, 4 * count)
        return UnsafeMutableBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: Float.self), count: count)
    }
}
