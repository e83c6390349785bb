import DDLCore

/// Decides where the downloaded file goes.
enum OutputPath {
    /// The final path: `-o FILE` as given (or inside it, when it names a directory), else
    /// the sanitized server-suggested name inside the download directory. Refuses an
    /// existing file unless overwriting.
    static func resolve(configuration: ClientConfiguration, suggestedName: String?) throws(DownloadError) -> String {
        let name = FileNameSanitizer.sanitize(suggestedName ?? FileNameSanitizer.fallback)
        let path: String
        if let output = configuration.outputFile, !output.isEmpty {
            if FileSystemChecks.isDirectory(output) {
                path = join(output, name)
            } else {
                path = output
                let parent = parentDirectory(of: output)
                guard FileSystemChecks.isDirectory(parent) else {
                    throw .localIO("the directory \(parent) does not exist; create it or choose another -o")
                }
            }
        } else {
            let directory = configuration.downloadDirectory.isEmpty ? "." : configuration.downloadDirectory
            guard FileSystemChecks.isDirectory(directory) else {
                throw .localIO("the download directory \(directory) does not exist; create it or pass -d DIR")
            }
            path = join(directory, name)
        }
        if !configuration.overwrite && FileSystemChecks.exists(path) {
            throw .usage("\(path) already exists; pass --overwrite to replace it or -o to choose another name")
        }
        return path
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}
