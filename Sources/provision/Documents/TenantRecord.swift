import ProvisionCore

/// A tenant in a document: every field of the contract's `tenants` row, `null` where the
/// run does not know it (a planned tenant has no `id`; a row that failed before its
/// tenant was looked at knows only its slug).
struct TenantRecord: Encodable, Sendable, Equatable {
    @Nullable var id: String?
    let slug: String
    @Nullable var name: String?
    @Nullable var timeZone: String?
    @Nullable var supportEmail: String?
    @Nullable var supportPhone: String?

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
}
