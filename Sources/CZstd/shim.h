#ifndef MSGSTORE_CZSTD_SHIM_H
#define MSGSTORE_CZSTD_SHIM_H
#include <zstd.h>
#include <zdict.h>
#endif
