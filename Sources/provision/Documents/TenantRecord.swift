import ProvisionCore

/// A tenant in a document: every field of the contract's `tenants` row, `null` where the
/// run does not know it (a planned tenant has no `id`; a row that failed before its
/// tenant was looked at knows only its slug).
struct TenantRecord: Encodable, Sendable, Equatable {
    var id: String?
    let slug: String
    var name: String?
    var timeZone: String?
    var supportEmail: String?
    var supportPhone: String?

    init(_ tenant: Tenant) {
        id = tenant.id?.description
        slug = tenant.slug
        name = tenant.name
        timeZone = tenant.timeZone
        supportEmail = tenant.supportEmail
        supportPhone = tenant.supportPhone
    }

    /// A tenant known by its slug alone.
    init(slug: String) {
        self.slug = slug
    }

    enum CodingKeys: String, CodingKey { case id, slug, name, timeZone, supportEmail, supportPhone }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try encode(into: &container)
    }

    /// Every key, `null` where there is no value (as `@Nullable`), into a container its
    /// parent opened (`ListDocument`, a hundred thousand at a time).
    func encode(into container: inout KeyedEncodingContainer<CodingKeys>) throws {
        try container.encodeNullable(id, forKey: .id)
        try container.encode(slug, forKey: .slug)
        try container.encodeNullable(name, forKey: .name)
        try container.encodeNullable(timeZone, forKey: .timeZone)
        try container.encodeNullable(supportEmail, forKey: .supportEmail)
        try container.encodeNullable(supportPhone, forKey: .supportPhone)
    }
}
