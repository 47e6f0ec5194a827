import ProvisionCore

/// `provision list` as text, written a tenant at a time as the database hands them over
/// (`Output.Stream`): a table laid out before its rows are read, from the longest values
/// the database holds, each column up to its cap (`TextTable`); one line per Owner; then
/// the count.
struct ListReport {
    static let header = ["SLUG", "NAME", "CREATED", "OWNER", "PASSWORD"]
    /// Slugs (at most 63 characters, the database's own check), instants and password
    /// states are bounded already.
    static let caps: [Int?] = [nil, TextTable.nameCap, nil, TextTable.emailCap, nil]
    static let noOwner = "(no owner)"

    private let stream: Output.Stream
    private let widths: [Int]
    private(set) var count = 0

    init(longest: TenantListing.Longest, on stream: Output.Stream) {
        self.stream = stream
        let lengths = [longest.slug, longest.name, "2026-12-01T06:55:50Z".count, max(longest.ownerEmail, Self.noOwner.count), 0]
        widths = zip(Self.header, zip(lengths, Self.caps)).map { heading, pair in
            max(heading.count, pair.1.map { min($0, pair.0) } ?? pair.0)
        }
    }

    /// Adds one tenant's lines. False once stdout failed.
    mutating func add(_ listing: TenantListing) -> Bool {
        if count == 0 { stream.write(TextTable.line(Self.header, widths: widths) + "\n") }
        count += 1
        var text = ""
        let owners = listing.owners.isEmpty ? [nil] : listing.owners.map(Optional.some)
        for (index, owner) in owners.enumerated() {
            let first = index == 0
            let values = [first ? listing.tenant.slug : "", first ? listing.tenant.name : "", first ? listing.createdAt : "",
                          owner?.user.email ?? Self.noOwner,
                          owner.map { PasswordRecord($0.password, at: $0.passwordExpiresAt.map(UTCTimestamp.init(formatted:))).text } ?? ""]
            let cells = zip(values, Self.caps).map { TextTable.cell($0, cap: $1) }
            text += TextTable.line(cells, widths: widths) + "\n"
        }
        stream.write(text)
        return stream.itemDone()
    }

    /// Ends the report with the count (or says there are no tenants).
    func end() {
        if count == 0 {
            stream.write("No tenants yet. Provision one with `provision tenant` (see provision tenant --help).\n")
        } else {
            stream.write("\n\(count) tenant\(count == 1 ? "" : "s")\n")
        }
    }
}
