/// Discussion text as ArgumentParser should get it: each paragraph one line, which it
/// wraps to the terminal's width itself, and each indented line (an example, a list
/// item's continuation) kept as it is. Written in the source as readable wrapped text.
enum HelpText {
    static func paragraphs(_ text: String) -> String {
        var lines: [String] = []
        var joining = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                lines.append("")
                joining = false
            } else if line.first == " " || line.hasPrefix("- ") {
                // An example keeps its line; a list item starts a line of its own.
                lines.append(String(line))
                joining = line.hasPrefix("- ")
            } else if joining, let last = lines.popLast() {
                lines.append(last + " " + line)
            } else {
                lines.append(String(line))
                joining = true
            }
        }
        return lines.joined(separator: "\n")
    }
}
