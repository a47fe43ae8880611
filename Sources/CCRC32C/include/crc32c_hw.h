// Hardware CRC-32C (SSE4.2 `crc32` on x86-64) for MsgStore's checksums.
// The Swift side (Sources/MsgStore/Encoding/CRC32C.swift) calls
// msgstore_crc32c_hardware only when msgstore_crc32c_hardware_available()
// says the CPU has it, and otherwise computes the same CRC in software.
#ifndef MSGSTORE_CRC32C_HW_H
#define MSGSTORE_CRC32C_HW_H

#include <stddef.h>
#include <stdint.h>

/// 1 if this CPU computes CRC-32C in hardware (x86-64 with SSE4.2), else 0.
int msgstore_crc32c_hardware_available(void);

/// The CRC-32C of `length` bytes at `data`, continuing from `crc` (0 to
/// start): the same value as the software function. REQUIRES:
/// msgstore_crc32c_hardware_available() returned 1; `data` readable for
/// `length` bytes (may be NULL when `length` is 0).
uint32_t msgstore_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif
