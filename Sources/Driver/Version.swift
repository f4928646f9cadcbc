// The compiler's version, recorded in every bundle and printed by `npucc --version`.

public enum Version {
    public static let string = "0.4.0"
}
