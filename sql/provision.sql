-- Two roles, two databases, each database reachable by its own role only (DESIGN §4): the
-- API's role cannot connect to Better Auth's database and the other way round. The one copy of
-- this SQL: the operator's managed PostgreSQL (include_str!), `make dev` (scripts/lib/stack.sh)
-- and the end-to-end stacks (e2e/lib/stack.js) all run it, and operator/tests/provisioning.rs
-- proves it on a real server.
--
-- Run as a superuser with psql (it uses \gexec and psql variables):
--   psql -X -v ON_ERROR_STOP=1 \
--     -v auth_role=chatplane_auth -v auth_password=... -v auth_db=chatplane_auth \
--     -v api_role=chatplane_api -v api_password=... -v api_db=chatplane_api \
--     -f sql/provision.sql
--
-- Idempotent: an existing role gets its attributes and password set again, an existing database
-- is kept as it is (with its data); only the privileges are made right again.

SELECT format('CREATE ROLE %I', :'auth_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'auth_role') \gexec
SELECT format('CREATE ROLE %I', :'api_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'api_role') \gexec
ALTER ROLE :"auth_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'auth_password';
ALTER ROLE :"api_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'api_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'auth_db', :'auth_role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'auth_db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'api_db', :'api_role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'api_db') \gexec

-- PUBLIC may connect to a new database by default: close both, then open each to its role.
REVOKE ALL ON DATABASE :"auth_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"api_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"auth_db" TO :"auth_role";
GRANT CONNECT, TEMPORARY ON DATABASE :"api_db" TO :"api_role";
-- A grant made by hand earlier (or a database that existed before) must not open the other one.
REVOKE ALL ON DATABASE :"auth_db" FROM :"api_role";
REVOKE ALL ON DATABASE :"api_db" FROM :"auth_role";
