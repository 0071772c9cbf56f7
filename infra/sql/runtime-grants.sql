-- The least-privilege role the API and the worker connect as (infra/README.md, "Database
-- roles"). Run as the schema owner (the user the migrate task connects as), after the
-- first migration, once per database (tables later migrations add are covered by the
-- default privileges at the end):
--   CREATE ROLE weelo_app LOGIN PASSWORD '...';      -- once, by hand
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f infra/sql/runtime-grants.sql
-- The role reads and writes rows; it cannot change the schema, run migrations or create
-- anything. api/tests/api/abuse.rs runs the whole sign-in -> create -> accept -> jobs path
-- as a role made by this file, and checks what it may not do.
DO $$ BEGIN
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO weelo_app', current_database());
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO weelo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO weelo_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO weelo_app;
-- The migrations' bookkeeping is the owner's alone.
REVOKE ALL ON TABLE _sqlx_migrations FROM weelo_app;
-- Tables and sequences the owner creates later are granted too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO weelo_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO weelo_app;
