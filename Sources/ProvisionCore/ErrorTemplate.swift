extension ProvisionError {
    /// A sentence with the field's name and the remedy as slots (`\(.field)`,
    /// `\(.remedy)`); every other interpolation is text.
    public struct Template: Sendable, Equatable, ExpressibleByStringInterpolation {
        public enum Part: Sendable, Equatable {
            case text(String)
            case field
            case remedy
        }

        public enum Slot: Sendable {
            case field, remedy
        }

        public private(set) var parts: [Part]

        public init(stringLiteral value: String) {
            parts = [.text(value)]
        }

        public init(stringInterpolation: StringInterpolation) {
            parts = stringInterpolation.parts
        }

        public func rendered(field: String, remedy: String) -> String {
            parts.map { part in
                switch part {
                case .text(let text): return text
                case .field: return field
                case .remedy: return remedy
                }
            }.joined()
        }

        public struct StringInterpolation: StringInterpolationProtocol {
            var parts: [Part] = []

            public init(literalCapacity: Int, interpolationCount: Int) {}

            public mutating func appendLiteral(_ literal: String) {
                guard !literal.isEmpty else { return }
                if case .text(let previous)? = parts.last {
                    parts[parts.count - 1] = .text(previous + literal)
                } else {
                    parts.append(.text(literal))
                }
            }

            public mutating func appendInterpolation(_ slot: Slot) {
                parts.append(slot == .field ? .field : .remedy)
            }

            public mutating func appendInterpolation(_ value: some CustomStringConvertible) {
                appendLiteral(value.description)
            }
        }
    }
}
