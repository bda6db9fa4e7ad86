#ifndef CPROCESSCONTROL_SHIM_H
#define CPROCESSCONTROL_SHIM_H

#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#include <spawn.h>
#include <fcntl.h>

// Declared by glibc only under _GNU_SOURCE, which a Swift module cannot set for its importers.
extern int pipe2(int pipefd[2], int flags);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
// <sys/socket.h> is not included: it would import its enums a second time into Swift.
struct sockaddr;
extern int accept4(int sockfd, struct sockaddr *addr, unsigned int *addrlen, int flags);

/// pipe2(2) with O_CLOEXEC: neither end leaks into other children.
static inline int cprocesscontrol_pipe_cloexec(int fds[2], int extra_flags) {
    return pipe2(fds, O_CLOEXEC | extra_flags);
}

/// accept4(2) with SOCK_CLOEXEC: the connection cannot leak into a child spawned meanwhile.
static inline int cprocesscontrol_accept_cloexec(int fd) {
    return accept4(fd, 0, 0, O_CLOEXEC);  // SOCK_CLOEXEC is O_CLOEXEC on Linux
}

/// Makes the spawned child change to `path` before exec (glibc 2.29+).
static inline int cprocesscontrol_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

/// Makes the spawned child close every descriptor from `from` up before exec (glibc 2.34+):
/// whatever the parent opened without O_CLOEXEC (a library's listening socket) stays out of it.
static inline int cprocesscontrol_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/// A file descriptor that becomes readable when process `pid` exits (Linux 5.3+);
/// -1 with errno set on failure. (syscall is variadic, which Swift cannot call.)
static inline int cprocesscontrol_pidfd_open(int pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Asks the kernel to send `signal` to this process when its parent thread exits
/// (prctl is variadic, which Swift cannot call). Returns 0 on success, -1 with errno set.
static inline int cprocesscontrol_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}
/// Makes this process adopt its orphaned descendants, so a supervisor can reap them.
static inline int cprocesscontrol_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0, 0, 0);
}
#else
static inline int cprocesscontrol_set_parent_death_signal(int signal) {
    (void)signal;
    return -1;
}
static inline int cprocesscontrol_set_child_subreaper(void) {
    return -1;
}
static inline int cprocesscontrol_pidfd_open(int pid) {
    (void)pid;
    return -1;
}
#endif

#endif
