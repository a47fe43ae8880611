#include "crc32c_hw.h"

#include <string.h>

#if defined(__x86_64__)

int msgstore_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t msgstore_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t state = (uint32_t)~crc;
    // Align to 8 bytes, then 8 bytes per instruction, then the tail.
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        state = __builtin_ia32_crc32qi((uint32_t)state, *p++);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = __builtin_ia32_crc32di(state, word);
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        state = __builtin_ia32_crc32qi((uint32_t)state, *p++);
        length--;
    }
    return ~(uint32_t)state;
}

#else

int msgstore_crc32c_hardware_available(void) { return 0; }

uint32_t msgstore_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    (void)data;
    (void)length;
    return crc;  // never called: the Swift side checks availability first
}

#endif
