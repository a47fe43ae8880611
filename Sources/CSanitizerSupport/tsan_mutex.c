// ThreadSanitizer builds only (`make tsan`, `swift build --sanitize=thread`); in every
// other build this file compiles to nothing.
//
// Why: on Linux, Swift's `Synchronization.Mutex` takes a free lock with an atomic
// compare-exchange inlined into the caller (instrumented, so TSan sees the acquire and the
// release), but a *contended* lock goes through `_MutexHandle._lockSlow` / `_unlockSlow` /
// `_tryLockSlow` in libswiftSynchronization.so: a spin of plain `cmpxchg` and then
// FUTEX_LOCK_PI / FUTEX_UNLOCK_PI system calls, none of it instrumented. The thread that
// gets the lock from the kernel never performs an acquire TSan can see, so every contended
// hand-over of every `Mutex` is reported as a race on the data it guards ("Swift access
// race" inside a `withLock` body), in our code and in any other. (Four threads appending
// to a `Mutex<[Int]>` reproduce it; docs/reliability.md#sanitizers.)
//
// What: the three slow-path functions are defined here under their Swift names. The
// executable's definitions bind before the shared library's, so every call from Swift code
// linked into a TSan-built product lands here; each calls the library's original (found
// with dlsym(RTLD_NEXT)) and tells TSan what happened: an acquire of the mutex's address
// after the lock is taken, a release before it is given up. The fast path's atomics use
// the same address, so fast and slow hand-overs form one happens-before chain. Nothing is
// suppressed: accesses outside the lock are still reported.
//
// The names and the calling convention (`self`, the mutex word's address, in the Swift
// context register; `selfId` in the first argument register) are those of Swift 6.x's
// Synchronization module on Linux. If a toolchain renames them, the lookup below aborts the
// TSan run at start with a message, rather than letting it report false races.

#if defined(__linux__) && defined(__has_feature)
#if __has_feature(thread_sanitizer)

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void __tsan_acquire(void *address);
void __tsan_release(void *address);

#define SWIFT_CC __attribute__((swiftcall))
#define SWIFT_SELF __attribute__((swift_context))

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef SWIFT_CC void (*LockSlow)(uint32_t, void *SWIFT_SELF);
typedef SWIFT_CC bool (*TryLockSlow)(void *SWIFT_SELF);
typedef SWIFT_CC void (*UnlockSlow)(void *SWIFT_SELF);

static LockSlow originalLockSlow;
static TryLockSlow originalTryLockSlow;
static UnlockSlow originalUnlockSlow;

static void *original(const char *name) {
    void *function = dlsym(RTLD_NEXT, name);
    if (function == NULL) {
        fprintf(stderr, "CSanitizerSupport: %s not found in the Swift runtime; "
                        "update Sources/CSanitizerSupport/tsan_mutex.c for this toolchain\n", name);
        abort();
    }
    return function;
}

// Resolved once at load, before any Swift code runs (no lazily set pointer to race on).
__attribute__((constructor)) static void resolveOriginals(void) {
    originalLockSlow = (LockSlow)original(LOCK_SLOW);
    originalTryLockSlow = (TryLockSlow)original(TRY_LOCK_SLOW);
    originalUnlockSlow = (UnlockSlow)original(UNLOCK_SLOW);
}

SWIFT_CC void msgstore_tsan_mutex_lockSlow(uint32_t selfId, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
SWIFT_CC void msgstore_tsan_mutex_lockSlow(uint32_t selfId, void *SWIFT_SELF handle) {
    originalLockSlow(selfId, handle);
    __tsan_acquire(handle);
}

SWIFT_CC bool msgstore_tsan_mutex_tryLockSlow(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFT_CC bool msgstore_tsan_mutex_tryLockSlow(void *SWIFT_SELF handle) {
    bool locked = originalTryLockSlow(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}

SWIFT_CC void msgstore_tsan_mutex_unlockSlow(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
SWIFT_CC void msgstore_tsan_mutex_unlockSlow(void *SWIFT_SELF handle) {
    __tsan_release(handle);
    originalUnlockSlow(handle);
}

#endif
#endif
