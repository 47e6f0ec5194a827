import Foundation

/// IANA zone names, from the system's tz database (`/usr/share/zoneinfo/tzdata.zi`, as
/// Debian's tzdata ships it; Foundation's list where that file is missing). PostgreSQL's
/// own list is checked too, once a database is at hand (`Store.knowsTimeZone`).
///
/// Accepted: the canonical Area/Location zones and UTC. Refused with a suggestion: wrong
/// case, and aliases (`US/Mountain` → `America/Denver`). Refused: abbreviations (`MST`,
/// `EST5EDT`) and free text.
public enum TimeZones {
    struct Database {
        var canonical: Set<String> = []
        /// alias → the zone it stands for
        var aliases: [String: String] = [:]
        /// Zones that exist but are abbreviations, not places (`MST`, `CET`).
        var abbreviations: Set<String> = []
    }

    static let systemFile = "/usr/share/zoneinfo/tzdata.zi"

    static let database: Database = {
        var database = Database()
        if let file = FileManager.default.contents(atPath: systemFile) {
            // Only zone (`Z name …`) and link (`L target alias`) lines matter; the rules and
            // continuation lines, most of the file, are skipped on their first byte.
            let space = UInt8(ascii: " "), newline = UInt8(ascii: "\n")
            file.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var rest = raw[...]
                while !rest.isEmpty {
                    let end = rest.firstIndex(of: newline) ?? rest.endIndex
                    let line = rest[rest.startIndex..<end]
                    rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end...]
                    guard let kind = line.first, kind == UInt8(ascii: "Z") || kind == UInt8(ascii: "L") else { continue }
                    let fields = line.split(separator: space).map { String(decoding: $0, as: UTF8.self) }
                    if kind == UInt8(ascii: "Z"), fields.count >= 2, fields[0] == "Z" {
                        let name = fields[1]
                        if name.contains("/") { database.canonical.insert(name) } else { database.abbreviations.insert(name) }
                    } else if fields.count >= 3, fields[0] == "L" {
                        database.aliases[fields[2]] = fields[1]
                    }
                }
            }
        } else {
            // No tzdata.zi: fall back on the zones Foundation knows (through ICU).
            database.canonical = Set(TimeZone.knownTimeZoneIdentifiers.filter { $0.contains("/") })
        }
        database.canonical.insert("UTC")
        database.aliases["UTC"] = nil
        return database
    }()

    public static var canonical: Set<String> { database.canonical }

    private static let byLowercase: [String: String] = {
        var map: [String: String] = [:]
        for name in database.canonical { map[name.lowercased()] = name }
        return map
    }()

    public static func validate(_ value: String, _ field: Field = .timeZone) throws(ProvisionError) -> String {
        let field = Validate.Subject.field(field)
        try Validate.general(value, field)
        let name = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty {
            throw Validate.invalid("\(.field) must not be empty", field)
        }
        let database = database
        if database.canonical.contains(name) { return name }
        if let right = byLowercase[name.lowercased()] {
            throw Validate.invalid("\(.field) '\(name)' has the wrong case: did you mean '\(right)'?", field)
        }
        if let target = database.aliases[name] ?? database.aliases.first(where: { $0.key.lowercased() == name.lowercased() })?.value,
           target.contains("/") || target == "UTC" {
            let zone = target == "Etc/UTC" ? "UTC" : target
            throw Validate.invalid("\(.field) '\(name)' is a legacy alias, not a canonical IANA zone name: use '\(zone)'", field)
        }
        let upper = name.uppercased()
        if database.abbreviations.contains(upper) || database.aliases[upper] != nil || upper.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" }) && name.count <= 7 && !name.contains("/") {
            throw Validate.invalid("\(.field) '\(name)' is an abbreviation, not an IANA zone name; use a zone such as America/Edmonton (abbreviations are ambiguous and ignore daylight saving)", field)
        }
        throw Validate.invalid("\(.field) '\(name)' is not an IANA time zone name; use one such as America/Edmonton or UTC", field)
    }
}
