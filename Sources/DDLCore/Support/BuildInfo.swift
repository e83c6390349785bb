/// What this build of ddl is.
public enum BuildInfo {
    /// The version `ddl --version` prints and `ddl_build_info` exposes.
    public static let version = "0.1.0"
}
