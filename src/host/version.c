/*
 * version.c - padim_version: the version of the library actually linked, for consumers of
 * the shared library who compiled against another padim.h.
 */
#include "padim.h"

const char *padim_version(void) { return PADIM_VERSION_STRING; }
