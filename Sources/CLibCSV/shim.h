#ifndef PROVISION_CLIBCSV_SHIM_H
#define PROVISION_CLIBCSV_SHIM_H
#include <stdio.h>
#include <csv.h>
#endif
