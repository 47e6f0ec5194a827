/// The fleet as a check of every tenant walks it: every tenant, in slug order, without holding
/// them all (CONTRACT §14).
extension Fleet {
    /// How many tenants there are, in the caller's open transaction.
    public func tenantCount() throws(ProvisionError) -> Int {
        Int(try Store.only(try connection.run("SELECT count(*) AS n FROM tenants")).decode(Int64.self, "n"))
    }

    /// Calls `body` with every tenant by slug, read through a cursor in the caller's open
    /// transaction a few hundred at a time: memory stays flat whatever the fleet's size,
    /// and `body` may run statements of its own between them (savepoints it opens and
    /// rolls back leave the cursor open) and returns false to stop. `after`: only the
    /// tenants whose slug sorts after it.
    public func forEachTenant(after slug: String? = nil, _ body: (Tenant) throws(ProvisionError) -> Bool) throws(ProvisionError) {
        let cursor = Identifier("provision_fleet_tenants")!
        try connection.run("""
            DECLARE \(cursor) NO SCROLL CURSOR FOR
            SELECT id, slug, name, time_zone, support_email, support_phone FROM tenants
            WHERE \(slug) IS NULL OR slug > \(slug) ORDER BY slug
            """)
        while true {
            let rows = try connection.run("FETCH 500 FROM \(cursor)")
            for row in rows {
                guard try body(try Store.tenant(of: row)) else {
                    try connection.run("CLOSE \(cursor)")
                    return
                }
            }
            if rows.count < 500 { break }
        }
        try connection.run("CLOSE \(cursor)")
    }
}
