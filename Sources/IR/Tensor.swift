// Dense tensor data: an element type, concrete extents and a shared, 64-byte
// aligned buffer. Constants, interpreter values and npz arrays are all Tensors.
import Foundation

/// Owns the bytes of one tensor. Either allocated here (zeroed, 64-byte aligned) or
/// adopted from another allocator (protobuf-c's malloc'd raw_data) with its release.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let release: @Sendable (UnsafeMutableRawPointer) -> Void

    /// Zero-filled storage of `byteCount` bytes.
    public init(byteCount: Int) {
        let size = max(byteCount, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        self.byteCount = byteCount
        release = { $0.deallocate() }
    }

    /// Storage of `byteCount` bytes left uninitialized, for a caller that writes every byte
    /// before the storage is read.
    init(uninitializedByteCount byteCount: Int) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.byteCount = byteCount
        release = { $0.deallocate() }
    }

    /// Takes ownership of `pointer`; `release` frees it when the last tensor goes.
    public init(
        adopting pointer: UnsafeMutableRawPointer, byteCount: Int,
        release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
        base = pointer
        self.byteCount = byteCount
        self.release = release
    }

    deinit { release(base) }
}

/// A Swift scalar type that is the storage of one `DType`.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
}
extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension UInt16: TensorElement { public static var dtype: DType { .uint16 } }
extension UInt32: TensorElement { public static var dtype: DType { .uint32 } }
extension UInt64: TensorElement { public static var dtype: DType { .uint64 } }

/// A dense, row-major tensor. Value semantics by convention: a tensor is written only
/// by whoever created its storage, before handing it on.
public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: TensorStorage

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var byteCount: Int { count * dtype.byteSize }
    public var type: TensorType { TensorType(dtype, shape) }

    /// A zero-filled tensor.
    public init(zeros dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
        self.storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.byteSize)
    }

    /// A tensor over existing storage, which must hold at least `count` elements.
    public init(dtype: DType, shape: [Int], storage: TensorStorage) {
        precondition(
            storage.byteCount >= shape.reduce(1, *) * dtype.byteSize,
            "tensor storage smaller than its shape")
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// A tensor holding `values`, of the element's own dtype.
    public init<T: TensorElement>(_ values: [T], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "value count does not match shape")
        // Every byte is copied over: the storage is not zeroed first.
        let storage = TensorStorage(uninitializedByteCount: values.count * MemoryLayout<T>.stride)
        values.withUnsafeBufferPointer { src in
            if let b = src.baseAddress {
                storage.base.copyMemory(from: b, byteCount: src.count * MemoryLayout<T>.stride)
            }
        }
        self.init(dtype: T.dtype, shape: shape, storage: storage)
    }

    /// A rank-0 tensor.
    public init<T: TensorElement>(scalar: T) { self.init([scalar], shape: []) }

    /// A bool tensor (stored one byte per element, 0 or 1).
    public init(bools: [Bool], shape: [Int]) {
        self.init(zeros: .bool, shape: shape)
        let p = storage.base.assumingMemoryBound(to: UInt8.self)
        for (i, b) in bools.enumerated() { p[i] = b ? 1 : 0 }
    }

    /// The same data seen with other extents of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "reshape changes the element count")
        return Tensor(dtype: dtype, shape: newShape, storage: storage)
    }

    /// Typed read access. `T`'s size must match the dtype's storage size.
    public func withUnsafeBuffer<T, R>(as: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "element size mismatch")
        let p = storage.base.bindMemory(to: T.self, capacity: count)
        return try body(UnsafeBufferPointer(start: p, count: count))
    }

    /// Typed write access, for the code that just created this tensor.
    public func withUnsafeMutableBuffer<T, R>(as: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "element size mismatch")
        let p = storage.base.bindMemory(to: T.self, capacity: count)
        return try body(UnsafeMutableBufferPointer(start: p, count: count))
    }

    /// A copy of the elements as `T`, which must be this tensor's storage type.
    public func scalars<T: TensorElement>(as: T.Type) -> [T] {
        precondition(T.dtype == dtype || (dtype == .bool && T.self == UInt8.self), "dtype mismatch")
        return withUnsafeBuffer(as: T.self) { Array($0) }
    }

    /// The raw bytes, little-endian as stored.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage.base, count: byteCount) }

    /// True when both tensors have the same dtype, shape and bytes.
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape
            && memcmp(storage.base, other.storage.base, byteCount) == 0
    }
}
