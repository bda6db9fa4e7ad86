#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stderr, unbuffered, so progress and errors never mix with stdout's result.
func printToStandardError(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { bytes in
        _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
    }
}
