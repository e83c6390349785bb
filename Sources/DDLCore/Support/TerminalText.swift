/// Makes text from the network safe to print on a terminal: control characters (C0, DEL,
/// C1: terminal escape sequences start with them) and Unicode bidirectional controls (which
/// make a name display as another, e.g. U+202E RIGHT-TO-LEFT OVERRIDE) are shown as
/// `\u{…}` escapes instead of being sent to the terminal.
public enum TerminalText {
    /// `text` with every control and bidi character replaced by its `\u{XXXX}` escape, and
    /// every backslash doubled (so an escape in the output always stands for one of those).
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0) || $0 == "\\" }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out.append(contentsOf: "\\\\".unicodeScalars)
            } else if needsEscape(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// A C0 or C1 control character, DEL, or a bidi control.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        isControl(scalar) || isBidiControl(scalar)
    }

    /// C0 controls, DEL and C1 controls.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// The Unicode bidirectional formatting characters: ALM (U+061C), LRM/RLM
    /// (U+200E–U+200F), LRE/RLE/PDF/LRO/RLO (U+202A–U+202E), LRI/RLI/FSI/PDI (U+2066–U+2069).
    public static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
