// External tensor data: `location` is resolved inside the model's folder, and any path
// that leaves it (absolute, `..`, a symlink out) is refused before a byte is read.
import Foundation
import IR

enum ExternalData {
    /// Reads `byteCount` bytes at the entries' location/offset/length.
    static func load(
        _ entries: [(key: String, value: String)], root: URL, byteCount: Int,
        what: String
    ) throws -> TensorStorage {
        var location: String?
        var offset = 0
        var length: Int?
        for (key, value) in entries {
            switch key {
            case "location": location = value
            case "offset":
                guard let v = Int(value), v >= 0 else {
                    throw TensorDecodingError("\(what): external data offset \"\(value)\" is not a non-negative integer")
                }
                offset = v
            case "length":
                guard let v = Int(value), v >= 0 else {
                    throw TensorDecodingError("\(what): external data length \"\(value)\" is not a non-negative integer")
                }
                length = v
            default: break
            }
        }
        guard let location, !location.isEmpty else { throw TensorDecodingError("\(what): external data has no location") }
        if let length, length != byteCount {
            throw TensorDecodingError("\(what): external data length \(length) but the tensor needs \(byteCount) bytes")
        }
        let file = try resolve(location, root: root, what: what)
        // A folder opens but reads as an error of the system's; a device or a pipe may never end.
        if let type = try? FileManager.default.attributesOfItem(atPath: file.path)[.type] as? FileAttributeType,
            type != .typeRegular
        {
            throw TensorDecodingError("\(what): external data file \"\(location)\" is not a regular file")
        }
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw TensorDecodingError("\(what): cannot open external data file \"\(location)\"")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard offset <= size, byteCount <= size - offset else {
            throw TensorDecodingError(
                "\(what): external data file \"\(location)\" has \(size) bytes, too short for \(byteCount) bytes at offset \(offset)"
            )
        }
        let storage = TensorStorage(byteCount: byteCount)
        try handle.seek(toOffset: UInt64(offset))
        var done = 0
        while done < byteCount {
            let chunk = try handle.read(upToCount: min(byteCount - done, 1 << 26)) ?? Data()
            guard !chunk.isEmpty else { throw TensorDecodingError("\(what): external data file \"\(location)\" ended early") }
            chunk.withUnsafeBytes { storage.base.advanced(by: done).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            done += chunk.count
        }
        return storage
    }

    /// The file `location` names, refused unless it lies inside `root` after resolving
    /// every symlink.
    static func resolve(_ location: String, root: URL, what: String) throws -> URL {
        if location.hasPrefix("/") || location.hasPrefix("\\") || location.contains(":") {
            throw TensorDecodingError(
                "\(what): external data location \"\(location)\" is absolute; it must be relative to the model's folder")
        }
        let parts = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if parts.contains("..") {
            throw TensorDecodingError(
                "\(what): external data location \"\(location)\" has a \"..\" component, which ONNX does not allow "
                    + "(it could leave the model's folder)")
        }
        let realRoot = root.resolvingSymlinksInPath().standardizedFileURL.path
        let file = root.appendingPathComponent(location).resolvingSymlinksInPath().standardizedFileURL
        let prefix = realRoot.hasSuffix("/") ? realRoot : realRoot + "/"
        guard file.path.hasPrefix(prefix) else {
            throw TensorDecodingError("\(what): external data location \"\(location)\" resolves outside the model's folder")
        }
        return file
    }
}
