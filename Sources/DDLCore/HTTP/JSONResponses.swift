import Foundation

/// Checks on host names received from the network.
public enum HostValidation {
    /// True for an IPv4 or IPv6 literal or a syntactically valid DNS name.
    public static func isValidHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        if host.contains(":") {
            // IPv6 literal: hex digits, colons, dots (embedded IPv4); optional zone not allowed.
            return host.utf8.allSatisfy { b in
                (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102) || b == 58 || b == 46
            }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { b in
                    (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45
                }
        }
    }
}
