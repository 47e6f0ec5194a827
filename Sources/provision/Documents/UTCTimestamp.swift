#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// A moment as every JSON document writes it: ISO 8601 in UTC to the second,
/// `2026-12-01T06:55:50Z` (CONTRACT §2).
struct UTCTimestamp: Encodable, Sendable, Equatable, CustomStringConvertible {
    let description: String

    /// From a timestamp as PostgreSQL or the core spell it in UTC: `2026-12-01T06:55:50Z`,
    /// `2026-12-01 06:55:50 UTC`, `2026-12-01 06:55:50.123+00`. Fractions of a second are
    /// dropped. Text that is none of these is kept as it is (the schema tests would catch
    /// a new spelling rather than see it silently changed).
    init(_ text: String) {
        let pattern = /^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?\s*(?:Z|UTC|\+00(?::?00)?)?$/
        if let match = text.trimmed(.spaces).wholeMatch(of: pattern) {
            description = "\(match.output.1)T\(match.output.2)Z"
        } else {
            description = text
        }
    }

    /// Text the database formatted in this very form already (`to_char` in UTC, as
    /// `Fleet.forEachTenant` reads instants): taken as it is, nothing parsed.
    init(formatted text: String) {
        description = text
    }

    init(_ date: Date) {
        description = IssuedCredential.iso8601(date)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
