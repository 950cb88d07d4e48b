/*
 * Declarations of the F-Stack API subset implemented by the kernel-socket backend.
 *
 * The prototypes match F-Stack's `ff_api.h` / `ff_epoll.h` so that bindgen produces the same
 * Rust signatures for both backends. Constants are Linux ones, as F-Stack's `ff_*` calls take.
 * The functions are exactly those listed in src/functions.rs (tests/function_list.rs checks).
 */
#ifndef FSTACK_KERNEL_H
#define FSTACK_KERNEL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Linux socket address layout, as F-Stack's `ff_*` calls take and return. */
struct linux_sockaddr {
    short sa_family;
    char sa_data[14];
};

#define AF_INET6_LINUX 10

typedef int (*loop_func_t)(void *arg);

int ff_init(int argc, char *const argv[]);
void ff_run(loop_func_t loop, void *arg);
void ff_stop_run(void);
/* Kernel backend only (not part of F-Stack's API): the current loop iteration counts as busy,
 * so that ff_run does not wait for readiness after it. */
void fstack_kernel_stay_busy(void);

int ff_fcntl(int fd, int cmd, ...);
int ff_ioctl(int fd, unsigned long request, ...);

int ff_socket(int domain, int type, int protocol);
int ff_setsockopt(int s, int level, int optname, const void *optval, socklen_t optlen);
int ff_getsockopt(int s, int level, int optname, void *optval, socklen_t *optlen);
int ff_listen(int s, int backlog);
int ff_bind(int s, const struct linux_sockaddr *addr, socklen_t addrlen);
int ff_accept(int s, struct linux_sockaddr *addr, socklen_t *addrlen);
int ff_connect(int s, const struct linux_sockaddr *name, socklen_t namelen);
int ff_close(int fd);
int ff_shutdown(int s, int how);
int ff_getpeername(int s, struct linux_sockaddr *name, socklen_t *namelen);
int ff_getsockname(int s, struct linux_sockaddr *name, socklen_t *namelen);

ssize_t ff_read(int d, void *buf, size_t nbytes);
ssize_t ff_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t ff_write(int fd, const void *buf, size_t nbytes);
ssize_t ff_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t ff_send(int s, const void *buf, size_t len, int flags);
ssize_t ff_recv(int s, void *buf, size_t len, int flags);
ssize_t ff_sendto(int s, const void *buf, size_t len, int flags,
    const struct linux_sockaddr *to, socklen_t tolen);
ssize_t ff_recvmsg(int s, struct msghdr *msg, int flags);

int ff_epoll_create(int size);
int ff_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
int ff_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);

#ifdef __cplusplus
}
#endif

#endif
