/// The schema of CONTRACT §7, as ordered migrations compiled into the binary, so an
/// installed `provision` needs no files beside it. An applied migration is never edited:
/// its checksum is recorded and `provision migrate` refuses a mismatch. Change the
/// schema by appending a migration.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

public enum BundledMigrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "tenants_users_memberships_audit", sql: """
            CREATE TABLE tenants (
                id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                slug          text        NOT NULL,
                name          text        NOT NULL,
                time_zone     text,
                support_email text,
                support_phone text,
                created_at    timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT tenants_slug_key UNIQUE (slug),
                CONSTRAINT tenants_slug_format CHECK (
                    length(slug) BETWEEN 3 AND 63 AND slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
            );

            -- Users are global: one person may belong to several tenants.
            CREATE TABLE users (
                id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                email                text        NOT NULL,
                name                 text,
                password_hash        text,
                must_change_password boolean     NOT NULL DEFAULT false,
                password_expires_at  timestamptz,
                created_at           timestamptz NOT NULL DEFAULT now()
            );
            CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

            CREATE TABLE memberships (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                role       text        NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                -- Tenant-scoped keys include tenant_id so the table distributes by it.
                CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, id),
                CONSTRAINT memberships_tenant_user_key UNIQUE (tenant_id, user_id),
                CONSTRAINT memberships_role_check CHECK (role IN ('OWNER', 'ADMIN', 'STAFF', 'PARENT'))
            );
            CREATE INDEX memberships_user_idx ON memberships (user_id);

            -- Append-only; no foreign keys, so the trail outlives what it describes.
            CREATE TABLE audit_events (
                id        uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                at        timestamptz NOT NULL DEFAULT now(),
                actor     text        NOT NULL,
                action    text        NOT NULL,
                run_id    uuid        NOT NULL,
                tenant_id uuid,
                user_id   uuid,
                detail    jsonb       NOT NULL DEFAULT '{}'::jsonb
            );
            CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, at);
            CREATE INDEX audit_events_run_idx ON audit_events (run_id);
            """),
        Migration(version: 2, name: "platform_tenant_scoped_tables", sql: """
            -- The platform's tables that go-live checks read. Every one carries tenant_id,
            -- and every unique key (the primary key included) starts with it.
            CREATE TABLE centers (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                name       text        NOT NULL,
                time_zone  text,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );

            CREATE TABLE levels (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                name       text        NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );

            CREATE TABLE programs (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                name       text        NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );

            CREATE TABLE "groups" (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                name       text        NOT NULL,
                center_id  uuid,
                program_id uuid,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id),
                FOREIGN KEY (tenant_id, center_id) REFERENCES centers (tenant_id, id) ON DELETE CASCADE,
                FOREIGN KEY (tenant_id, program_id) REFERENCES programs (tenant_id, id) ON DELETE CASCADE
            );

            CREATE TABLE students (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                full_name  text        NOT NULL,
                center_id  uuid,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id),
                FOREIGN KEY (tenant_id, center_id) REFERENCES centers (tenant_id, id) ON DELETE CASCADE
            );

            CREATE TABLE parents (
                id         uuid        NOT NULL DEFAULT gen_random_uuid(),
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                full_name  text        NOT NULL,
                -- Null until the parent has a portal login.
                user_id    uuid        REFERENCES users (id) ON DELETE SET NULL,
                email      text,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );

            CREATE TABLE student_parents (
                tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                student_id uuid        NOT NULL,
                parent_id  uuid        NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, student_id, parent_id),
                FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id) ON DELETE CASCADE,
                FOREIGN KEY (tenant_id, parent_id) REFERENCES parents (tenant_id, id) ON DELETE CASCADE
            );
            """),
        Migration(version: 3, name: "read_only_query_rows", sql: """
            -- Read-only queries from playbooks and checks fetch their rows through this
            -- function, a chunk at a time, each chunk bounded in bytes before it is sent,
            -- so a query can never make the client buffer more than it has room for.
            -- Until the role provision_reader exists the function runs as its caller; once
            -- it does, `provision migrate` hands schema and function to that role and makes
            -- the function SECURITY DEFINER, so a query runs as provision_reader and cannot
            -- change role (PostgreSQL refuses `role` and `session_authorization` inside a
            -- security-definer function).
            CREATE SCHEMA provision_query;
            GRANT USAGE ON SCHEMA provision_query TO PUBLIC;

            CREATE FUNCTION provision_query.fetch_rows(
                cursor_name  refcursor,
                row_limit    integer,
                byte_limit   bigint,   -- null: no limit
                row_overhead integer   -- bytes the client spends on a row besides its text
            ) RETURNS SETOF text
            LANGUAGE plpgsql VOLATILE
            AS $$
            DECLARE
                fetched  record;
                row_text text;
                used     bigint := 0;
            BEGIN
                FOR fetched_count IN 1 .. row_limit LOOP
                    FETCH cursor_name INTO fetched;
                    EXIT WHEN NOT FOUND;
                    row_text := fetched::text;
                    used := used + pg_catalog.octet_length(row_text) + row_overhead;
                    IF used > byte_limit THEN
                        RAISE EXCEPTION 'the query''s rows exceed % bytes', byte_limit
                            USING ERRCODE = 'PV001';
                    END IF;
                    RETURN NEXT row_text;
                END LOOP;
            END
            $$;
            """),
            Migration(version: 4, name: "database_identity", sql: """
            -- A random identity for this database, made by `provision migrate`: a plan
            -- records it, and `provision apply` refuses a plan made against another
            -- database, whatever connection string reaches either. The row also records
            -- where it was made (the database's oid and the cluster's system identifier),
            -- so a copy (a restored dump, CREATE DATABASE … TEMPLATE) is told apart from
            -- its original: until `migrate` gives the copy an identity of its own, its
            -- identity is derived from the original's and its own place. One row, always.
            CREATE FUNCTION provision_database_place(OUT database_oid oid, OUT system_identifier bigint)
            LANGUAGE plpgsql STABLE
            AS $$
            BEGIN
                SELECT d.oid INTO database_oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
                BEGIN
                    SELECT c.system_identifier INTO system_identifier FROM pg_catalog.pg_control_system() c;
                EXCEPTION WHEN insufficient_privilege THEN
                    system_identifier := NULL;  -- a server that hides it: the oid alone
                END;
            END
            $$;

            CREATE TABLE provision_database (
                identity          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                database_oid      oid         NOT NULL,
                system_identifier bigint,
                created_at        timestamptz NOT NULL DEFAULT now(),
                one_row           boolean     NOT NULL DEFAULT true UNIQUE CHECK (one_row)
            );

            -- The identity as plans record it: the row's, in the database that made it;
            -- in a copy, one derived from it and the copy's own place.
            CREATE FUNCTION provision_database_identity() RETURNS uuid
            LANGUAGE sql STABLE
            AS $$
                SELECT CASE WHEN d.database_oid = p.database_oid AND d.system_identifier IS NOT DISTINCT FROM p.system_identifier
                            THEN d.identity
                            ELSE pg_catalog.md5(pg_catalog.concat_ws(':', d.identity, p.database_oid, p.system_identifier))::uuid END
                FROM provision_database d CROSS JOIN provision_database_place() p
            $$;
            """),
    ]
}
