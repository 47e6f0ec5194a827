#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The typed record of a run (CONTRACT §13): what it did or planned, in order, as typed
/// actions with every value they write; what happened to each tenant; the memberships it
/// linked; its notices. Every front end renders this one record (the CLI's text and JSON,
/// Lua's return values, `provision test`, plans); none reads the run's insides. It holds
/// no secret: one-time passwords are handed over apart from it, by the commit.
public struct RunRecord: Sendable, Codable {
    /// `audit_events.run_id` of the rows this run wrote (a dry run writes none).
    public let runId: UUID
    public let dryRun: Bool
    public let actions: [Action]
    /// Each tenant's outcome in the order it happened (a batch: the file's order).
    public let outcomes: [TenantOutcome]
    /// Every membership the run linked (or planned), in order.
    public let memberships: [Membership]
    /// Warnings for the operator, in order.
    public let notices: [String]
    /// How long the one-time passwords it issued last.
    public let passwordLifetimeHours: Int

    /// The exit status of the first outcome that was not a success, in the order they
    /// happened: a failed unit's error's, or 3 for a tenant that `differs` (CONTRACT §8);
    /// nil when there is none.
    public var failureStatus: Int32? {
        for outcome in outcomes {
            switch outcome {
            case .failed(let failure): return failure.error.exitStatus
            case .kept(let existing) where !existing.differences.isEmpty: return 3
            default: continue
            }
        }
        return nil
    }

    /// How many outcomes have each status; every status counted, zeros included.
    public var counts: [OutcomeStatus: Int] {
        var counts = Dictionary(uniqueKeysWithValues: OutcomeStatus.allCases.map { ($0, 0) })
        for outcome in outcomes { counts[outcome.status, default: 0] += 1 }
        return counts
    }

    /// The memberships linked in each tenant, by slug (grouped once: O(N) for a batch).
    public var membershipsBySlug: [String: [Membership]] { Dictionary(grouping: memberships, by: \.tenant.slug) }
}
