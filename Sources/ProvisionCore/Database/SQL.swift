/// A statement whose interpolated values become bound parameters (`$1`, `$2`, …).
/// There is no way to splice a value into the text: `"… WHERE slug = \(slug)"` binds it.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    public private(set) var text: String
    public private(set) var parameters: [String?]

    public init(stringLiteral value: String) {
        text = value
        parameters = []
    }

    public init(stringInterpolation: Interpolation) {
        text = stringInterpolation.text
        parameters = stringInterpolation.parameters
    }

    /// A statement with explicit `$n` placeholders, for callers (such as Lua's read-only
    /// query) that bring their own text and values.
    public init(unsafeText text: String, parameters: [String?]) {
        self.text = text
        self.parameters = parameters
    }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        var parameters: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        public mutating func appendInterpolation(_ value: some SQLBindable) {
            parameters.append(value.sqlText)
            text += "$\(parameters.count)"
        }

        public mutating func appendInterpolation(_ value: (some SQLBindable)?) {
            parameters.append(value?.sqlText)
            text += "$\(parameters.count)"
        }
    }
}

/// A value that can be bound as a text-format parameter.
public protocol SQLBindable: Sendable {
    var sqlText: String { get }
}

extension String: SQLBindable { public var sqlText: String { self } }
extension Substring: SQLBindable { public var sqlText: String { String(self) } }
extension Int: SQLBindable { public var sqlText: String { String(self) } }
extension Int64: SQLBindable { public var sqlText: String { String(self) } }
extension Int32: SQLBindable { public var sqlText: String { String(self) } }
extension Bool: SQLBindable { public var sqlText: String { self ? "true" : "false" } }
extension Double: SQLBindable { public var sqlText: String { String(self) } }
