// Where outputs go: an output path that names one of the command's own inputs would destroy
// what the command reads, and is refused before any work; a bundle not named is the model's
// name with .npub, in the current directory.
import Foundation

public enum OutputPaths {
    /// Throws when `output` is the same file as one of `inputs` (the same path once resolved,
    /// or the same device and inode when both exist).
    public static func refuseOverwriting(_ output: String, inputs: [String]) throws {
        func resolved(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        var outputStat = stat()
        let outputExists = stat(output, &outputStat) == 0
        for input in inputs {
            var inputStat = stat()
            let same =
                resolved(input) == resolved(output)
                || (outputExists && stat(input, &inputStat) == 0 && inputStat.st_dev == outputStat.st_dev
                    && inputStat.st_ino == outputStat.st_ino)
            if same { throw DriverError(file: output, "is also an input of the command (\(input)); write elsewhere") }
        }
    }

    /// The bundle `compile` writes for `model` when not told where: the model's file name
    /// with its extension replaced by .npub (model.onnx: model.npub), in the current
    /// directory, as a C compiler writes its objects.
    public static func bundle(for model: String) -> String {
        URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent + ".npub"
    }
}
