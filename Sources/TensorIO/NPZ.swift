// NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy entries. Written
// deterministically (fixed dates, the given order) and atomically.
import Bundle
import Foundation
import IR
import ZIPFoundation

public enum NPZ {
    /// The arrays of the archive in entry order; names drop the ".npy" suffix.
    public static func read(url: URL) throws -> [(name: String, tensor: Tensor)] {
        let path = url.path
        guard FileManager.default.isReadableFile(atPath: path) else { throw TensorIOError(file: path, "cannot read the file") }
        // A folder or a device would have the zip reader look for an archive's end forever.
        guard (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular else {
            throw TensorIOError(file: path, "not a regular file")
        }
        let archive: Archive
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            throw TensorIOError(file: path, "not an .npz (zip) archive")
        }
        var arrays: [(name: String, tensor: Tensor)] = []
        for entry in archive where entry.type == .file {
            let name = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
            var data = Data()
            let checksum: ZIPFoundation.CRC32
            do {
                checksum = try archive.extract(entry, skipCRC32: false) { data.append($0) }
            } catch Archive.ArchiveError.invalidCompressionMethod {
                throw TensorIOError(file: path, key: name, "the entry is compressed by a method other than deflate")
            } catch {
                throw TensorIOError(file: path, key: name, "cannot extract the entry: the archive is damaged (\(error))")
            }
            guard checksum == entry.checksum else {
                throw TensorIOError(file: path, key: name, "the entry's bytes do not match its CRC-32: the archive is damaged")
            }
            guard !arrays.contains(where: { $0.0 == name }) else {
                throw TensorIOError(file: path, key: name, "the archive holds this array twice")
            }
            arrays.append((name, try NPY.decode(data, file: path, key: name)))
        }
        guard !arrays.isEmpty || Self.emptyArchive(path) else {
            throw TensorIOError(file: path, "the archive's directory lists no arrays, though it is not empty: it is damaged")
        }
        return arrays
    }

    /// Whether the file is a zip holding nothing: its end record alone, as np.savez() of no
    /// arrays writes it.
    private static func emptyArchive(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 22
    }

    /// Writes `arrays` as an .npz; the file appears whole or not at all.
    public static func write(_ arrays: [(String, Tensor)], to url: URL, compressed: Bool = false) throws {
        let path: String
        do { path = try AtomicFile.destination(url.path) } catch { throw TensorIOError(file: url.path, error.message) }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw TensorIOError(file: path, "folder \(folder.path) does not exist")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw TensorIOError(file: path, "is a directory")
        }
        guard access(folder.path, W_OK) == 0 else {
            throw TensorIOError(file: path, "cannot write in \(folder.path): \(String(cString: strerror(errno)))")
        }
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).partial")
        try? FileManager.default.removeItem(at: temporary)
        do {
            let archive = try Archive(url: temporary, accessMode: .create)
            let date = Date(timeIntervalSince1970: 315_532_800)  // 1980-01-01, the zip epoch
            for (name, tensor) in arrays {
                let data = NPY.encode(tensor)
                try archive.addEntry(
                    with: name + ".npy", type: .file, uncompressedSize: Int64(data.count),
                    modificationDate: date, permissions: 0o644,
                    compressionMethod: compressed ? .deflate : .none
                ) { position, size in
                    data.subdata(in: Int(position)..<(Int(position) + size))
                }
            }
            // rename(2) replaces a file in one step and refuses a directory.
            guard rename(temporary.path, path) == 0 else {
                throw TensorIOError(file: path, "cannot write: \(String(cString: strerror(errno)))")
            }
        } catch let e as TensorIOError {
            try? FileManager.default.removeItem(at: temporary)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TensorIOError(file: path, "cannot write: \(error)")
        }
    }
}
