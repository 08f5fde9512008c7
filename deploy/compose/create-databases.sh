#!/usr/bin/env bash
# docker-compose.yml's PostgreSQL runs this once, when it initialises an empty data volume
# (/docker-entrypoint-initdb.d): a login role and a database per service, the role owning its database
# and nothing else, so no service can read or write another's data. The passwords come from the
# container's environment. tests/unit/test_deployment.py reads the calls at the bottom.
set -eo pipefail

create_service_database() {  # database role password
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=db="$1" --set=role="$2" --set=password="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}

create_service_database targeting targeting "$P2KP_TARGETING_DB_PASSWORD"
create_service_database institutions institutions "$P2KP_INSTITUTIONS_DB_PASSWORD"
create_service_database ledger ledger "$P2KP_LEDGER_DB_PASSWORD"
create_service_database handover handover "$P2KP_HANDOVER_DB_PASSWORD"
create_service_database monitoring monitoring "$P2KP_MONITORING_DB_PASSWORD"
