// Writes a report directory: report.html and report.json, both rendered before anything
// is written, each written to a temporary file in the directory and renamed into place.
import Bundle
import Foundation

public enum ReportWriter {
    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// report.json: the report's data, keys sorted, the same bytes for the same report.
    public static func json(_ report: CompileReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(report)
        data.append(0x0A)
        return data
    }

    /// Checks, without writing anything, that `directory` is a writable directory, or can
    /// be made in the nearest existing folder above it.
    public static func prepare(_ directory: String) throws {
        let fm = FileManager.default
        var path = URL(fileURLWithPath: directory).standardizedFileURL
        var isDirectory: ObjCBool = false
        while !fm.fileExists(atPath: path.path, isDirectory: &isDirectory) {
            let parent = path.deletingLastPathComponent()
            if parent.path == path.path { break }
            path = parent
        }
        let existing = path.path == URL(fileURLWithPath: directory).standardizedFileURL.path ? directory : path.path
        guard isDirectory.boolValue else {
            throw WriteError(path: directory, reason: "\(existing) exists and is not a directory")
        }
        guard fm.isWritableFile(atPath: path.path) else {
            throw WriteError(path: directory, reason: "cannot write the report: \(existing) is not writable")
        }
    }

    /// What `write` put in place, for `remove` to take away.
    public struct Written: Sendable {
        public var files: [String]
        /// Folders it made, the deepest first.
        public var folders: [String]
    }

    /// Writes report.html and report.json into `directory` (made if missing). Both files
    /// go to temporaries first; only when both are written, and each name holds a regular
    /// file or nothing (a symbolic link is written through), are they renamed into place.
    @discardableResult
    public static func write(_ report: CompileReport, to directory: String) throws -> Written {
        try prepare(directory)
        var made: [String] = []
        var folder = URL(fileURLWithPath: directory).standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path) {
            made.append(folder.path)
            folder = folder.deletingLastPathComponent()
        }
        // On any failure the folders made for the report go again (the temporaries first).
        var succeeded = false
        defer { if !succeeded { remove(Written(files: [], folders: made)) } }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw WriteError(path: directory, reason: "cannot create the report directory")
        }
        // Each name must hold a regular file or nothing; a link is written through.
        var targets: [String: URL] = [:]
        for name in ["report.html", "report.json"] {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            do { targets[name] = URL(fileURLWithPath: try AtomicFile.destination(path)) } catch {
                throw WriteError(path: path, reason: error.message)
            }
        }
        let files = [("report.html", Data(ReportPage.html(report).utf8)), ("report.json", try json(report))]
        var temporaries: [(URL, URL)] = []
        defer { for (t, _) in temporaries { try? FileManager.default.removeItem(at: t) } }
        for (name, data) in files {
            let target = targets[name]!
            let temporary = target.deletingLastPathComponent().appendingPathComponent(
                ".\(name).\(ProcessInfo.processInfo.processIdentifier).tmp")
            do { try data.write(to: temporary) } catch {
                throw WriteError(path: target.path, reason: "cannot write the report (\(error.localizedDescription))")
            }
            temporaries.append((temporary, target))
        }
        for (temporary, target) in temporaries {
            guard rename(temporary.path, target.path) == 0 else {
                throw WriteError(
                    path: target.path, reason: "cannot move the report into place (\(String(cString: strerror(errno))))")
            }
        }
        let written = Written(files: temporaries.map(\.1.path), folders: made)
        temporaries = []
        succeeded = true
        return written
    }

    /// Takes away what `write` put in place (when what the report belongs to could not be
    /// written after all).
    public static func remove(_ written: Written) {
        for file in written.files { unlink(file) }
        for folder in written.folders { rmdir(folder) }
    }
}
