#ifndef PROVISION_CLIBPQ_SHIM_H
#define PROVISION_CLIBPQ_SHIM_H
#include <postgresql/libpq-fe.h>

// PG_DIAG_* are character-literal macros, which Swift does not import.
static const int provision_pg_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int provision_pg_diag_message_primary = PG_DIAG_MESSAGE_PRIMARY;
static const int provision_pg_diag_message_hint = PG_DIAG_MESSAGE_HINT;
static const int provision_pg_diag_constraint_name = PG_DIAG_CONSTRAINT_NAME;
static const int provision_pg_diag_column_name = PG_DIAG_COLUMN_NAME;
#endif
