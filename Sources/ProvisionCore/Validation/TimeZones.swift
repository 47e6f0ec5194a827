import Foundation

/// IANA zone names, from the system's tz database (through Foundation). PostgreSQL's own
/// list is checked too, once a database is at hand (`ProvisioningRun`).
public enum TimeZones {
    /// Canonical Area/Location names plus UTC; legacy links such as `MST` or `US/Mountain`
    /// exist as files but are abbreviations or aliases, which the contract refuses.
    public static let canonical: Set<String> = {
        var names = Set(TimeZone.knownTimeZoneIdentifiers.filter { $0.contains("/") && TimeZone(identifier: $0) != nil })
        names.insert("UTC")
        return names
    }()

    private static let byLowercase: [String: String] = {
        Dictionary(canonical.map { ($0.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
    }()

    public static func validate(_ value: String, field: String) throws(ProvisionError) -> String {
        try Validate.general(value, field)
        let name = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty {
            throw ProvisionError(.invalidInput, "\(field) must not be empty", field: field)
        }
        if canonical.contains(name) { return name }
        if let right = byLowercase[name.lowercased()] {
            throw ProvisionError(.invalidInput, "\(field) '\(name)' has the wrong case: did you mean '\(right)'?", field: field)
        }
        if TimeZone(abbreviation: name) != nil || TimeZone(identifier: name) != nil {
            throw ProvisionError(.invalidInput, "\(field) '\(name)' is an abbreviation or legacy alias, not an IANA zone name; use a zone such as America/Edmonton (abbreviations are ambiguous and ignore daylight saving)", field: field)
        }
        throw ProvisionError(.invalidInput, "\(field) '\(name)' is not an IANA time zone name; use one such as America/Edmonton or UTC", field: field)
    }
}
