// Writing a file whole or not at all: bundles and exported models go through here.
import Foundation

public enum AtomicFile {
    /// Writes `bytes` to `path` atomically: a temporary file in the same folder is written,
    /// flushed to disk and renamed over `path`; on any failure it is removed, `path` is
    /// left as it was, and the reason is thrown as a one-line message.
    public static func write(_ bytes: [UInt8], to path: String) throws(AtomicFileError) {
        let path = try destination(path)
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw AtomicFileError(message: "folder \(folder) does not exist")
        }
        let temporary = (folder as NSString).appendingPathComponent(
            ".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).partial")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw AtomicFileError(message: "cannot write: \(String(cString: strerror(errno)))") }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = String(cString: strerror(errno))
                    return
                }
                done += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw AtomicFileError(message: "cannot write: \(failure)")
        }
        // Make the rename itself durable.
        let dir = open(folder, O_RDONLY)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }
}

extension AtomicFile {
    /// Where writing `path` whole goes: the file a symbolic link names (the link stays), or
    /// `path` itself. What is there must be a regular file, or nothing: the rename that puts
    /// the new file in place would replace a device (`-o /dev/null`), a pipe or a socket,
    /// and cannot replace a folder.
    public static func destination(_ path: String) throws(AtomicFileError) -> String {
        var target = path
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK {
            target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        }
        guard stat(target, &status) == 0 else { return target }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return target
        case S_IFDIR: throw AtomicFileError(message: "is a directory")
        default: throw AtomicFileError(message: "is not a regular file (a device, a pipe or a socket): give a file's path")
        }
    }
}

/// Why a file could not be written, without the file's name (the caller adds it).
public struct AtomicFileError: Error, Sendable {
    public var message: String
}
