#ifndef PROVISION_CARGON2_SHIM_H
#define PROVISION_CARGON2_SHIM_H
#include <argon2.h>
#endif
