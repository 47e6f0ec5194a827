/// PostgreSQL's text form of a row value (`record_out`), such as `(1,,"a b","say ""hi""")`:
/// fields separated by commas inside parentheses; an empty unquoted field is NULL; a
/// field with special characters is quoted, with `"` and `\` doubled inside the quotes
/// (and, as `record_in` reads it, a backslash escaping the next byte anywhere).
///
/// Read-only queries receive each row in this form (one text value per row, so its size
/// is known and bounded before it is sent), and every field comes back exactly as the
/// column's own text output.
enum RecordText {
    /// The fields of `text`, or nil when it is not a row value of `count` fields.
    static func fields(of text: String, count: Int) -> [String?]? {
        var text = text
        return text.withUTF8 { fields(of: $0, count: count) }
    }

    private static let open = UInt8(ascii: "("), close = UInt8(ascii: ")"), comma = UInt8(ascii: ",")
    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    private static func fields(of bytes: UnsafeBufferPointer<UInt8>, count: Int) -> [String?]? {
        guard bytes.count >= 2, bytes.first == open, bytes.last == close else { return nil }
        var fields: [String?] = []
        fields.reserveCapacity(count)
        var index = 1
        let end = bytes.count - 1
        if count == 0 { return end == 1 ? [] : nil }
        for field in 0..<count {
            if index < end, bytes[index] != comma {
                guard let (value, next) = value(in: bytes, from: index, end: end) else { return nil }
                fields.append(value)
                index = next
            } else {
                fields.append(nil)
            }
            if field < count - 1 {
                guard index < end, bytes[index] == comma else { return nil }
                index += 1
            }
        }
        return index == end ? fields : nil
    }

    /// One non-NULL field starting at `start`: its text and the index after it.
    private static func value(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: Int) -> (String, Int)? {
        var index = start
        var quoted = false
        var plain = true
        // Most fields hold neither quotes nor backslashes: their bytes are the value.
        while index < end {
            let byte = bytes[index]
            if byte == quote || byte == backslash { plain = false; break }
            if byte == comma { break }
            index += 1
        }
        if plain {
            return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), index)
        }
        var value: [UInt8] = Array(bytes[start..<index])
        while index < end {
            let byte = bytes[index]
            if byte == backslash {
                guard index + 1 < end else { return nil }
                value.append(bytes[index + 1])
                index += 2
            } else if quoted {
                if byte == quote {
                    if index + 1 < end, bytes[index + 1] == quote {
                        value.append(quote)
                        index += 2
                    } else {
                        quoted = false
                        index += 1
                    }
                } else {
                    value.append(byte)
                    index += 1
                }
            } else if byte == quote {
                quoted = true
                index += 1
            } else if byte == comma {
                break
            } else {
                value.append(byte)
                index += 1
            }
        }
        guard !quoted else { return nil }
        return (String(decoding: value, as: UTF8.self), index)
    }
}
