#ifndef CPROCESSCONTROL_SHIM_H
#define CPROCESSCONTROL_SHIM_H

#ifdef __linux__
#include <sys/prctl.h>
#include <signal.h>

/// Asks the kernel to send `signal` to this process when its parent thread exits
/// (prctl is variadic, which Swift cannot call). Returns 0 on success, -1 with errno set.
static inline int cprocesscontrol_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}
#else
static inline int cprocesscontrol_set_parent_death_signal(int signal) {
    (void)signal;
    return -1;
}
#endif

#endif
