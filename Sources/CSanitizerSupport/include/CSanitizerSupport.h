#ifndef MSGSTORE_CSANITIZERSUPPORT_H
#define MSGSTORE_CSANITIZERSUPPORT_H

// Nothing to call: this target only adds code to ThreadSanitizer builds
// (`make tsan`); see tsan_mutex.c. In every other build it is empty.

#endif
