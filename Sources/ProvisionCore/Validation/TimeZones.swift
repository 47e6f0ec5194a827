#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// IANA zone names, from the system's tz database (`/usr/share/zoneinfo/tzdata.zi`, as
/// Debian's tzdata ships it; where that file is missing, the zone files of the same
/// folder). PostgreSQL's own list is checked too, once a database is at hand
/// (`Store.knowsTimeZone`). The system's database is the one authority: no zone list is
/// compiled in (full Foundation's came with ICU's tables, 34 MB of the binary).
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

        /// The tz database in `folder` (`/usr/share/zoneinfo`): its `tzdata.zi`, which
        /// names every zone and link; where that file is missing, its zone files.
        static func read(from folder: String) -> Database {
            var database = Database()
            if let file = FileManager.default.contents(atPath: folder + "/tzdata.zi") {
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
                // No tzdata.zi (a tz database installed some other way): every zone file
                // (TZif) named Area/Location is taken for a zone; links cannot be told
                // apart from zones there, so none is called an alias.
                database.canonical = Set(zoneFiles(in: folder).filter { $0.contains("/") })
            }
            database.canonical.insert("UTC")
            database.aliases["UTC"] = nil
            return database
        }

        /// The names of the zone files under `folder`: files that start with TZif's
        /// magic, outside the `posix/` and `right/` copies of the whole database.
        static func zoneFiles(in folder: String) -> [String] {
            let files = (try? FileManager.default.subpathsOfDirectory(atPath: folder)) ?? []
            return files.filter { name in
                guard !name.hasPrefix("posix/"), !name.hasPrefix("right/"),
                      let handle = fopen(folder + "/" + name, "r") else { return false }
                defer { fclose(handle) }
                var magic = [UInt8](repeating: 0, count: 4)
                return fread(&magic, 1, 4, handle) == 4 && magic == Array("TZif".utf8)
            }
        }
    }

    static let systemFolder = "/usr/share/zoneinfo"
    static let systemFile = systemFolder + "/tzdata.zi"

    static let database = Database.read(from: systemFolder)

    public static var canonical: Set<String> { database.canonical }

    private static let byLowercase: [String: String] = {
        var map: [String: String] = [:]
        for name in database.canonical { map[name.lowercased()] = name }
        return map
    }()

    public static func validate(_ value: String, _ field: Field = .timeZone) throws(ProvisionError) -> String {
        let field = Validate.Subject.field(field)
        try Validate.general(value, field)
        let name = value.trimmed()
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
