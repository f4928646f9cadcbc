// Folders one test run makes once and its tests share (generated reference data), removed
// when the run exits so that runs do not pile them up in the temporary directory.
import Foundation

/// `prefix`-pid under the temporary directory, removed with everything in it at exit.
public func sharedTemporaryFolder(_ prefix: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())")
    SharedFolders.list.lock.withLock {
        if SharedFolders.list.urls.isEmpty { atexit { SharedFolders.removeAll() } }
        SharedFolders.list.urls.append(url)
    }
    return url
}

private final class SharedFolders: @unchecked Sendable {
    static let list = SharedFolders()
    let lock = NSLock()
    var urls: [URL] = []

    static func removeAll() {
        for url in list.lock.withLock({ list.urls }) { try? FileManager.default.removeItem(at: url) }
    }
}
