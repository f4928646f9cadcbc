// The simulator's memories: bytes, which of them have been written, and bounds. Every
// access is checked; reading a byte never written is an error, as is any access outside
// the memory.

struct Memory {
    let name: String
    var bytes: [UInt8]
    /// One flag per byte; read-only memories (the bundle's sections) start fully written.
    var written: [Bool]
    let readOnly: Bool

    init(name: String, size: Int) {
        self.name = name
        bytes = [UInt8](repeating: 0, count: size)
        written = [Bool](repeating: false, count: size)
        readOnly = false
    }

    init(name: String, contents: [UInt8]) {
        self.name = name
        bytes = contents
        written = [Bool](repeating: true, count: contents.count)
        readOnly = true
    }

    mutating func store(_ data: [UInt8], at offset: Int) {
        for (i, b) in data.enumerated() {
            bytes[offset + i] = b
            written[offset + i] = true
        }
    }
}
