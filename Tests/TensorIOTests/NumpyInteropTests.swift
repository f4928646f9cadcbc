// .npy/.npz against numpy itself: files numpy writes read back exactly (every dtype,
// ml_dtypes' bfloat16, Fortran order, big-endian, compressed archives), files npucc writes are byte-identical
// to np.save and load in numpy; writes are deterministic and atomic; damage is an error.
import Foundation
import IR
import TensorIO
import TestSupport
import XCTest

final class NumpyInteropTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-npz-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    private func python(_ script: String) throws -> String {
        let run = try runPython(script: script, arguments: [folder.path])
        XCTAssertEqual(run.status, 0, "python failed: \(run.stderr)")
        return run.stdout
    }

    func testReadsWhatNumpyWrites() throws {
        _ = try python("""
            import sys, ml_dtypes, numpy as np
            d = sys.argv[1]
            arrays = {k: np.arange(-3, 9).reshape(3, 4).astype(k) for k in
                      ['float32', 'float64', 'float16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']}
            arrays['bool'] = np.arange(12).reshape(3, 4) % 3 == 0
            arrays['scalar'] = np.array(2.5, np.float32)
            arrays['empty'] = np.zeros((0, 3), np.float32)
            arrays['fortran'] = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
            arrays['bigendian'] = np.arange(4, dtype='>i4')
            arrays['bfloat16'] = (np.arange(-3, 9).reshape(3, 4) / 4).astype(ml_dtypes.bfloat16)  # saved as '<V2'
            np.savez(d + '/plain.npz', **arrays)
            np.savez_compressed(d + '/compressed.npz', **arrays)
            """)
        for file in ["plain.npz", "compressed.npz"] {
            let arrays = Dictionary(uniqueKeysWithValues: try NPZ.read(url: folder.appendingPathComponent(file)).map { ($0.name, $0.tensor) })
            XCTAssertEqual(arrays.count, 17, file)
            for (name, dtype) in [("float32", DType.float32), ("float64", .float64), ("float16", .float16), ("int8", .int8),
                                  ("int16", .int16), ("int32", .int32), ("int64", .int64), ("uint8", .uint8),
                                  ("uint16", .uint16), ("uint32", .uint32), ("uint64", .uint64)] {
                let t = try XCTUnwrap(arrays[name], name)
                XCTAssertEqual(t.dtype, dtype)
                XCTAssertEqual(t.shape, [3, 4])
                let expected = (-3..<9).map { wrapped(Int64($0), dtype) }
                XCTAssertEqual(t.doubles(), expected, "\(file) \(name)")
            }
            XCTAssertEqual(arrays["bool"]?.dtype, .bool)
            XCTAssertEqual(arrays["bool"]?.int64s(), (0..<12).map { $0 % 3 == 0 ? 1 : 0 })
            XCTAssertEqual(arrays["scalar"]?.shape, [])
            XCTAssertEqual(arrays["scalar"]?.floats(), [2.5])
            XCTAssertEqual(arrays["empty"]?.shape, [0, 3])
            XCTAssertEqual(arrays["fortran"]?.floats(), [0, 1, 2, 3, 4, 5])
            XCTAssertEqual(arrays["bigendian"]?.int64s(), [0, 1, 2, 3])
            XCTAssertEqual(arrays["bfloat16"]?.dtype, .bfloat16)
            XCTAssertEqual(arrays["bfloat16"]?.doubles(), (-3..<9).map { Double($0) / 4 })
        }
    }

    /// `v` as numpy's astype gives it for `dtype` (negative values wrap in unsigned types).
    private func wrapped(_ v: Int64, _ dtype: DType) -> Double {
        guard v < 0 else { return Double(v) }
        switch dtype {
        case .uint8, .uint16, .uint32: return Double((Int64(1) << Int64(dtype.byteSize * 8)) + v)
        case .uint64: return Double(UInt64(bitPattern: v))
        default: return Double(v)
        }
    }

    func testWritesWhatNumpyReadsByteForByte() throws {
        let tensors: [(String, Tensor)] = [
            ("a", Tensor((0..<12).map { Float($0) / 3 }, shape: [3, 4])),
            ("b", Tensor([Int64(-1), 5], shape: [2])),
            ("scalar", Tensor(scalar: Double(0.1))),
            ("flags", Tensor(bools: [true, false, true], shape: [3])),
        ]
        let out = folder.appendingPathComponent("mine.npz")
        try NPZ.write(tensors, to: out)
        for (name, t) in tensors { try NPY.encode(t).write(to: folder.appendingPathComponent("\(name).npy")) }
        let report = try python("""
            import sys, numpy as np, io
            d = sys.argv[1]
            z = np.load(d + '/mine.npz')
            checks = [np.array_equal(z['a'], (np.arange(12, dtype=np.float32) / np.float32(3)).reshape(3, 4)),
                      np.array_equal(z['b'], np.array([-1, 5])), z['scalar'].shape == () and z['scalar'] == 0.1,
                      z['flags'].dtype == np.bool_ and list(z['flags']) == [True, False, True]]
            for name in ['a', 'b', 'scalar', 'flags']:
                buf = io.BytesIO(); np.save(buf, z[name]); checks.append(buf.getvalue() == open(d + '/' + name + '.npy', 'rb').read())
            print(all(checks), checks)
            """)
        XCTAssertTrue(report.hasPrefix("True"), report)
    }

    func testWritesAreDeterministicAndAtomic() throws {
        let t = [("x", Tensor((0..<100).map { Float($0) }, shape: [10, 10]))]
        let a = folder.appendingPathComponent("a.npz"), b = folder.appendingPathComponent("b.npz")
        try NPZ.write(t, to: a, compressed: true)
        Thread.sleep(forTimeInterval: 1.1)
        try NPZ.write(t, to: b, compressed: true)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        let missing = folder.appendingPathComponent("no/such/dir/out.npz")
        XCTAssertThrowsError(try NPZ.write(t, to: missing))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("no").path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["a.npz", "b.npz"])
    }

    func testDamagedFilesAreErrorsNamingTheFile() throws {
        let good = NPY.encode(Tensor((0..<8).map { Float($0) }, shape: [2, 4]))
        for length in 0..<good.count {
            XCTAssertThrowsError(try NPY.decode(good.prefix(length), file: "x.npy"), "length \(length)") { error in
                XCTAssertTrue("\(error)".hasPrefix("x.npy: "), "\(error)")
            }
        }
        let npz = folder.appendingPathComponent("t.npz")
        try NPZ.write([("x", Tensor([Float(1), 2], shape: [2]))], to: npz)
        let bytes = try Data(contentsOf: npz)
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<100 {
            var damaged = bytes
            damaged[Int.random(in: 0..<damaged.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            let url = folder.appendingPathComponent("d\(trial).npz")
            try damaged.write(to: url)
            do { _ = try NPZ.read(url: url) } catch let e as TensorIOError { XCTAssertEqual(e.file, url.path) }
        }
        let dict = Data("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n".utf8)
        let objectArray = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0, UInt8(dict.count), 0]) + dict + Data(count: 8)
        XCTAssertThrowsError(try NPY.decode(objectArray, file: "o.npy")) { error in
            XCTAssertTrue("\(error)".contains("unsupported dtype"), "\(error)")
        }
    }
}
