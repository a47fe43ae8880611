import Logging
import PostgresNIO

/// The tables of ``PostgresMessagingStorage`` and their versioned migrations.
///
/// Every table carries its Citus distribution column (docs/scaling.md): the
/// inbox, its date heads and blocks by the user who owns them, members by
/// group (co-located with `groups`), bodies by message id; the fan-out queue
/// is one small table every server consumes (a single-shard table on Citus).
///
/// ``migrate(_:logger:)`` runs at every start: in one transaction, under a
/// transaction-level advisory lock (so two servers starting at once take turns:
/// the second finds everything applied), it creates `schema_migrations` if
/// needed and applies, in order, each migration not recorded there. DDL is
/// transactional in PostgreSQL, so a crash mid-migration leaves nothing half done.
enum PostgresSchema {
    /// The advisory lock key of migrations: "msgstore" in ASCII, as a bigint.
    static let migrationLockKey: Int64 = 7_886_761_118_028_231_269

    /// One migration: applied once, in version order, in the migrating transaction.
    struct Migration {
        var version: Int32
        var name: String
        var statements: [String]
    }

    /// Every migration, oldest first. Never edit one that shipped: add the next.
    static let migrations: [Migration] = [
        Migration(version: 1, name: "users, blocks, groups, members, inboxes, group bodies, fan-out queue", statements: [
            "CREATE TABLE users (user_id uuid PRIMARY KEY)",
            // Distributed by blocker: "does R block S" is asked about the recipient R.
            "CREATE TABLE blocks (blocker uuid NOT NULL, blocked uuid NOT NULL, PRIMARY KEY (blocker, blocked))",
            // last_date: the group's acceptance clock (sentAt), unique and increasing per group.
            "CREATE TABLE groups (group_id uuid PRIMARY KEY, last_date bigint NOT NULL DEFAULT 0) WITH (fillfactor = 70)",
            "CREATE TABLE members (group_id uuid NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (group_id, user_id))",
            // One row per inbox: the last date handed out in it. Locked (ON CONFLICT DO UPDATE) by
            // every transaction that adds to the inbox, so those commit one after another in date
            // order. Only last_date changes, which no index covers: HOT updates in place.
            "CREATE TABLE inbox_heads (recipient uuid PRIMARY KEY, last_date bigint NOT NULL) WITH (fillfactor = 50)",
            // A direct message carries its content; a group copy has group_id set and content NULL
            // (the body is stored once in group_messages).
            """
            CREATE TABLE inbox (
                recipient uuid NOT NULL, date bigint NOT NULL, message_id uuid NOT NULL, sender uuid NOT NULL,
                sent_at bigint NOT NULL, group_id uuid, content text,
                PRIMARY KEY (recipient, date))
            """,
            """
            CREATE TABLE group_messages (
                message_id uuid PRIMARY KEY, group_id uuid NOT NULL, sender uuid NOT NULL, sent_at bigint NOT NULL,
                content text NOT NULL)
            """,
            // The fan-out queue: a row per accepted group message until its fan-out is acknowledged.
            // progress: 0 not started, 1 under way (cursor = the last member served), 2 every member served.
            // A lease is (lease_token, lease_until); dead_reason set = parked in the dead-letter queue.
            """
            CREATE TABLE fanout_queue (
                id bigserial PRIMARY KEY, message_id uuid NOT NULL, group_id uuid NOT NULL, sender uuid NOT NULL,
                sent_at bigint NOT NULL, content text NOT NULL, enqueued_at timestamptz NOT NULL DEFAULT now(),
                attempts integer NOT NULL DEFAULT 0, lease_token uuid, lease_until timestamptz, leased_by text,
                progress smallint NOT NULL DEFAULT 0, cursor uuid, dead_reason text, dead_at timestamptz)
            """,
            "CREATE INDEX fanout_queue_ready ON fanout_queue (id) WHERE dead_reason IS NULL",
        ]),
    ]

    /// Brings the database's schema up to date (see the type's description).
    /// - Returns: the versions applied now (empty when it was up to date).
    /// - Throws: if the database was migrated by a newer msgstore (a version this one does not know).
    @discardableResult
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int32] {
        try await connection.withTransaction(logger: logger) { connection -> [Int32] in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: Set<Int32> = []
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int32.self) {
                applied.insert(version)
            }
            let known = Set(migrations.map(\.version))
            if let unknown = applied.subtracting(known).max() {
                throw PostgresURLError("The database has schema version \(unknown), newer than this msgstore knows (\(known.max() ?? 0)).")
            }
            var appliedNow: [Int32] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
    }
}
