extension StringProtocol {
    /// Every occurrence of `target` replaced, found scalar by scalar. Foundation's
    /// `replacingOccurrences(of:with:)` found a `\r` inside `\r\n` too (the standard
    /// library's `replacing`, by characters, does not); unlike Foundation it also finds a
    /// quote that a combining mark follows, which is what an escape needs: a parser of
    /// quoted text (PostgreSQL's arrays, a shell) sees that quote.
    public func replacingEvery(_ target: String, with replacement: String) -> String {
        var scalars = String(self).unicodeScalars
        scalars = scalars.replacing(target.unicodeScalars, with: replacement.unicodeScalars)
        return String(scalars)
    }
}
