// swift-tools-version:6.0
// npucc: an ONNX compiler for an NPU with nvfp4, fp8 and 2:4 sparse fast paths.
// Modules follow the stages of the compiler; dependencies run one way (README.md, "Layout").
import PackageDescription

let package = Package(
    name: "npucc",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "npucc", targets: ["npucc"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // System libraries, linked through pkg-config.
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // zlib (for CRC32); not "CZlib", the name ZIPFoundation's own zlib module takes.
        .systemLibrary(name: "CLibZ", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // protoc-c output for schemas/onnx.proto plus the shim, the only door to Swift.
        .target(name: "ONNXProto", dependencies: ["CProtobufC"],
                cSettings: [.unsafeFlags(["-O2"])]),

        // Numeric formats: no dependency on the IR.
        .target(name: "Formats"),
        // The NPU's instruction set: one table, its encoding and its assembly form.
        .target(name: "ISA"),
        // The target description: the NPU as data, read from JSON (schemas/target.md); no
        // dependency on the IR. The default target ships as a resource.
        .target(name: "Target", resources: [.copy("Resources/npu-seed.json")]),
        // The IR: values, nodes, graphs, constants, text form and verifier; the attributes the
        // passes leave on layers.
        .target(name: "IR", dependencies: ["Formats"]),
        // ONNX protobuf -> IR. Built without optimization: it visits each node and attribute
        // once and adopts or bulk-copies tensor payloads, so its own speed hardly shows in a
        // compile, while optimizing its hundreds of op importers cost 80 to 95 s of the release
        // build's CPU (docs/BENCHMARKS.md, "Build: Backend beside Passes, and the importer built
        // without optimization").
        .target(name: "ONNXImport", dependencies: ["IR", "ONNXProto"],
                swiftSettings: [.unsafeFlags(["-Onone"])]),
        // IR -> ONNX: a quantized graph in standard ops, written through protobuf-c.
        .target(name: "ONNXExport", dependencies: ["IR", "Formats", "Passes", "Reference", "ONNXProto"]),
        // .npy / .npz reading and writing.
        .target(name: "TensorIO", dependencies: [
            "IR", "Bundle", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        // The fp32 reference interpreter over the IR.
        .target(name: "Reference", dependencies: ["IR", "Formats", "CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        // Graph passes and the pass manager.
        .target(name: "Passes", dependencies: ["IR", "Reference", "Formats", "CBLAS"]),
        // The backend: packed weights (lowering follows).
        .target(name: "Backend", dependencies: ["Formats", "ISA", "IR", "Reference"]),
        // The functional simulator: runs a program over modelled memories, knowing the ISA
        // and the bundle, never the IR.
        .target(name: "Simulator", dependencies: ["ISA", "Formats", "Target", "SimulatorKernels"]),
        // The simulator's inner loops at the host's vector width (C, dispatched at run time).
        .target(name: "SimulatorKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // The deployable bundle container (.npub): writer and checking reader.
        .target(name: "Bundle", dependencies: ["CLibZ"]),
        // The compile report: its data, SVG charts and the self-contained HTML page; no
        // dependency on the compiler (the driver fills the data in).
        .target(name: "Report", dependencies: ["Bundle"]),
        // The compiler driver: the pipelines the CLI runs.
        .target(name: "Driver", dependencies: [
            "IR", "ONNXImport", "ONNXExport", "Reference", "Passes", "TensorIO", "Formats", "Backend", "Target", "Bundle", "ISA",
            "Simulator", "Report", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "npucc", dependencies: [
            "Driver", "IR", "Passes", "Formats", "Reference", "Target", "Bundle", "Report", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "NPUBench", dependencies: [
            "Driver", "Formats", "Reference", "IR", "ONNXImport", "TensorIO",
        ], swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        // Helpers shared by the test targets only.
        .target(name: "TestSupport", dependencies: ["IR", "Driver"]),

        .testTarget(name: "SimulatorTests", dependencies: [
            "Simulator", "ISA", "Backend", "Formats", "IR", "Passes", "Reference", "Target", "TestSupport",
        ]),
        .testTarget(name: "BackendTests", dependencies: ["Backend", "Formats", "IR", "ISA", "Passes", "TestSupport"]),
        .testTarget(name: "ISATests", dependencies: ["ISA", "TestSupport"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"]),
        // Golden dumps are read from the source tree (TestSupport.goldenURL), not bundled.
        .testTarget(name: "IRTests", dependencies: ["IR", "TestSupport"], exclude: ["Goldens"]),
        .testTarget(name: "ONNXImportTests", dependencies: ["ONNXImport", "IR", "Driver", "TestSupport"]),
        .testTarget(name: "ONNXExportTests", dependencies: [
            "ONNXExport", "ONNXImport", "IR", "Formats", "Passes", "Reference", "TestSupport",
        ]),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "IR", "TestSupport"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "IR", "TestSupport"]),
        .testTarget(name: "PassesTests", dependencies: ["Passes", "IR", "Reference", "TestSupport"]),
        .testTarget(name: "TargetTests", dependencies: ["Target"]),
        .testTarget(name: "ReportTests", dependencies: ["Report"]),
        .testTarget(name: "BundleTests", dependencies: ["Bundle", "TestSupport"]),
        .testTarget(name: "DriverTests", dependencies: [
            "Driver", "Backend", "Bundle", "IR", "Passes", "Reference", "Report", "Simulator", "Target", "TensorIO",
            "TestSupport",
        ], exclude: ["Goldens"]),
    ]
)
