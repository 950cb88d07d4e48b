/*
 * Kernel-socket backend: F-Stack's `ff_*` API implemented on Linux sockets.
 *
 * It exists so that code written against F-Stack builds, runs and is tested on machines without
 * DPDK. It reproduces the F-Stack behaviour that programs must be written for, not only the
 * happy path:
 *   - `ff_init` takes F-Stack's arguments and reads the config file (missing or malformed is an
 *     error); `[dpdk] idle_sleep` is honoured.
 *   - `ff_run` calls the loop function once per iteration until `ff_stop_run`. When an iteration
 *     did no I/O (and did not call `fstack_kernel_stay_busy`, which is not F-Stack API) it
 *     waits in the kernel for readiness on any epoll instance (at most `idle_sleep`
 *     microseconds, or 1 ms), so an idle program does not pin a core.
 *   - `ff_connect` before `ff_run` fails with EPERM.
 *   - `ff_epoll_wait` ignores its timeout and never blocks; read and write readiness of one fd
 *     arrive as two events; a zero `data` comes back as `data.fd`; EOF is EPOLLIN|EPOLLHUP and
 *     EPOLLRDHUP is never reported.
 *   - writes never raise SIGPIPE (F-Stack's stack lives in user space and has no signals).
 *
 * Values handed back as data keep the kernel's (Linux) numbering where real F-Stack's are
 * FreeBSD's: SO_ERROR, and ff_recvmsg's msg_flags. The safe crate translates by backend.
 *
 * Unlike real F-Stack, which calls exit(1) on a bad config, `ff_init` returns -1 with errno set
 * and a message on stderr.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "fstack_kernel.h"

#define DEFAULT_CONFIG "config.ini"
#define DEFAULT_IDLE_WAIT_US 1000L

static int initialized;
static int running;
static volatile sig_atomic_t stop_requested;
/* Set by any call that made progress during the current loop iteration. */
static int activity;
/* Every epoll instance created through ff_epoll_create, so that an idle loop can wait on all. */
static int master_epfd = -1;
static long idle_sleep_us;

static void note_activity(void) { activity = 1; }

/* ---- configuration ---------------------------------------------------------------------- */

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Parses an INI file the way F-Stack's parser accepts it. Returns 0, or the first bad line
 * number, or -1 when the file cannot be opened (errno set). */
static int parse_config(const char *path)
{
    char line[4096];
    char section[128] = "";
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *s, *eq, *key, *value, *comment;
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fclose(f);
            return lineno; /* line too long */
        }
        s = trim(line);
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            size_t len;
            if (!close) {
                fclose(f);
                return lineno;
            }
            len = (size_t)(close - s - 1);
            if (len == 0 || len >= sizeof section) {
                fclose(f);
                return lineno;
            }
            memcpy(section, s + 1, len);
            section[len] = '\0';
            continue;
        }
        eq = strpbrk(s, "=:");
        if (!eq || eq == s || section[0] == '\0') {
            fclose(f);
            return lineno;
        }
        *eq = '\0';
        key = trim(s);
        value = eq + 1;
        comment = strstr(value, " ;");
        if (comment)
            *comment = '\0';
        value = trim(value);
        if (strcmp(section, "dpdk") == 0 && strcmp(key, "idle_sleep") == 0) {
            char *endp;
            long v;
            errno = 0;
            v = strtol(value, &endp, 10);
            if (errno || *endp != '\0' || v < 0) {
                fclose(f);
                return lineno;
            }
            idle_sleep_us = v;
        }
    }
    fclose(f);
    return 0;
}

static int parse_nonneg_int(const char *s)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < 0 || v > INT_MAX)
        return -1;
    return (int)v;
}

/* Matches "-x VALUE", "-xVALUE", "--long VALUE" and "--long=VALUE". */
static const char *option_value(int argc, char *const argv[], int *i, const char *shrt,
                                const char *lng)
{
    const char *a = argv[*i];
    size_t llen = strlen(lng);
    if (strcmp(a, shrt) == 0 || strcmp(a, lng) == 0) {
        if (*i + 1 >= argc)
            return NULL;
        return argv[++*i];
    }
    if (strncmp(a, lng, llen) == 0 && a[llen] == '=')
        return a + llen + 1;
    if (strncmp(a, shrt, 2) == 0 && a[2] != '\0' && a[1] != '-')
        return a + 2;
    return NULL;
}

int ff_init(int argc, char *const argv[])
{
    const char *conf = DEFAULT_CONFIG;
    int i, bad_line;

    if (initialized) {
        fprintf(stderr, "ff_init: already initialized\n");
        errno = EALREADY;
        return -1;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strncmp(a, "-c", 2) == 0 || strncmp(a, "--conf", 6) == 0) {
            if (!(v = option_value(argc, argv, &i, "-c", "--conf")))
                goto bad_arg;
            conf = v;
        } else if (strncmp(a, "-t", 2) == 0 || strncmp(a, "--proc-type", 11) == 0) {
            if (!(v = option_value(argc, argv, &i, "-t", "--proc-type")))
                goto bad_arg;
            if (strcmp(v, "primary") && strcmp(v, "secondary") && strcmp(v, "auto")) {
                fprintf(stderr, "ff_init: invalid proc-type '%s'\n", v);
                errno = EINVAL;
                return -1;
            }
        } else if (strncmp(a, "-p", 2) == 0 || strncmp(a, "--proc-id", 9) == 0) {
            if (!(v = option_value(argc, argv, &i, "-p", "--proc-id")))
                goto bad_arg;
            if (parse_nonneg_int(v) < 0) {
                fprintf(stderr, "ff_init: invalid proc-id '%s'\n", v);
                errno = EINVAL;
                return -1;
            }
        } else {
            goto bad_arg;
        }
        continue;
    bad_arg:
        fprintf(stderr, "ff_init: invalid or incomplete argument '%s'\n", a);
        errno = EINVAL;
        return -1;
    }

    idle_sleep_us = 0;
    bad_line = parse_config(conf);
    if (bad_line < 0) {
        int saved = errno;
        fprintf(stderr, "ff_init: failed to open config file %s: %s\n", conf, strerror(saved));
        errno = saved;
        return -1;
    }
    if (bad_line > 0) {
        fprintf(stderr, "ff_init: parse %s failed on line %d\n", conf, bad_line);
        errno = EINVAL;
        return -1;
    }

    master_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (master_epfd < 0)
        return -1;
    initialized = 1;
    return 0;
}

/* ---- loop ------------------------------------------------------------------------------- */

static void wait_idle(void)
{
    long us = idle_sleep_us > 0 ? idle_sleep_us : DEFAULT_IDLE_WAIT_US;
    struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};
    struct pollfd pfd = {master_epfd, POLLIN, 0};
    /* EINTR (a signal handler calling ff_stop_run) simply ends the wait. */
    (void)ppoll(&pfd, 1, &ts, NULL);
}

void ff_run(loop_func_t loop, void *arg)
{
    if (!initialized)
        return;
    stop_requested = 0;
    running = 1;
    while (!stop_requested) {
        activity = 0;
        loop(arg);
        if (stop_requested)
            break;
        if (!activity)
            wait_idle();
    }
    running = 0;
}

void ff_stop_run(void) { stop_requested = 1; }

/* Work is queued that is not I/O (an async executor whose task budget ran out): the iteration
 * counts as busy, so that the loop comes back at once instead of waiting for readiness. */
void fstack_kernel_stay_busy(void) { note_activity(); }

/* ---- sockets ---------------------------------------------------------------------------- */

int ff_socket(int domain, int type, int protocol)
{
    return socket(domain, type | SOCK_CLOEXEC, protocol);
}

int ff_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    long arg;
    va_start(ap, cmd);
    arg = va_arg(ap, long);
    va_end(ap);
    return fcntl(fd, cmd, arg);
}

int ff_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    void *argp;
    va_start(ap, request);
    argp = va_arg(ap, void *);
    va_end(ap);
    return ioctl(fd, request, argp);
}

int ff_setsockopt(int s, int level, int optname, const void *optval, socklen_t optlen)
{
    return setsockopt(s, level, optname, optval, optlen);
}

int ff_getsockopt(int s, int level, int optname, void *optval, socklen_t *optlen)
{
    return getsockopt(s, level, optname, optval, optlen);
}

int ff_listen(int s, int backlog) { return listen(s, backlog); }

int ff_bind(int s, const struct linux_sockaddr *addr, socklen_t addrlen)
{
    return bind(s, (const struct sockaddr *)addr, addrlen);
}

int ff_accept(int s, struct linux_sockaddr *addr, socklen_t *addrlen)
{
    int fd = accept4(s, (struct sockaddr *)addr, addrlen, SOCK_CLOEXEC);
    if (fd >= 0)
        note_activity();
    return fd;
}

int ff_connect(int s, const struct linux_sockaddr *name, socklen_t namelen)
{
    int rc;
    if (!running) {
        errno = EPERM;
        return -1;
    }
    rc = connect(s, (const struct sockaddr *)name, namelen);
    if (rc == 0 || errno == EINPROGRESS)
        note_activity();
    return rc;
}

int ff_close(int fd) { return close(fd); }

int ff_shutdown(int s, int how) { return shutdown(s, how); }

int ff_getpeername(int s, struct linux_sockaddr *name, socklen_t *namelen)
{
    return getpeername(s, (struct sockaddr *)name, namelen);
}

int ff_getsockname(int s, struct linux_sockaddr *name, socklen_t *namelen)
{
    return getsockname(s, (struct sockaddr *)name, namelen);
}

static ssize_t progress(ssize_t n)
{
    if (n >= 0)
        note_activity();
    return n;
}

ssize_t ff_read(int d, void *buf, size_t nbytes) { return progress(read(d, buf, nbytes)); }

/* F-Stack's ff_readv and ff_writev hand the caller's iovec array to FreeBSD's uiomove, which
 * consumes it as it copies (iov_base advanced, iov_len decreased), `const` notwithstanding.
 * Doing the same here keeps callers honest on this backend: one that reuses the array after
 * the call (or passes memory it must not have changed) fails here too. */
static void consume_iov(const struct iovec *iov, int iovcnt, ssize_t done)
{
    struct iovec *v = (struct iovec *)iov;
    int i;
    for (i = 0; i < iovcnt && done > 0; i++) {
        size_t take = v[i].iov_len < (size_t)done ? v[i].iov_len : (size_t)done;
        v[i].iov_base = (char *)v[i].iov_base + take;
        v[i].iov_len -= take;
        done -= (ssize_t)take;
    }
}

ssize_t ff_readv(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t n = readv(fd, iov, iovcnt);
    if (n > 0)
        consume_iov(iov, iovcnt, n);
    return progress(n);
}

ssize_t ff_recv(int s, void *buf, size_t len, int flags)
{
    return progress(recv(s, buf, len, flags));
}

ssize_t ff_send(int s, const void *buf, size_t len, int flags)
{
    return progress(send(s, buf, len, flags | MSG_NOSIGNAL));
}

ssize_t ff_sendto(int s, const void *buf, size_t len, int flags, const struct linux_sockaddr *to,
                  socklen_t tolen)
{
    return progress(sendto(s, buf, len, flags | MSG_NOSIGNAL, (const struct sockaddr *)to, tolen));
}

/* msg_flags come back in Linux numbering (MSG_TRUNC = 0x20); real F-Stack hands back FreeBSD's
 * (MSG_TRUNC = 0x10) untranslated. Callers decide by the backend, as for SO_ERROR. */
ssize_t ff_recvmsg(int s, struct msghdr *msg, int flags)
{
    return progress(recvmsg(s, msg, flags));
}

ssize_t ff_write(int fd, const void *buf, size_t nbytes)
{
    ssize_t n = send(fd, buf, nbytes, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = write(fd, buf, nbytes);
    return progress(n);
}

ssize_t ff_writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct msghdr msg;
    ssize_t n;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = writev(fd, iov, iovcnt);
    if (n > 0)
        consume_iov(iov, iovcnt, n);
    return progress(n);
}

/* ---- epoll ------------------------------------------------------------------------------ */

int ff_epoll_create(int size)
{
    struct epoll_event ev;
    int fd;
    if (size <= 0) {
        errno = EINVAL;
        return -1;
    }
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -1;
    if (master_epfd >= 0) {
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        /* Best effort: without it the loop only waits a little longer when idle. */
        (void)epoll_ctl(master_epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    return fd;
}

int ff_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    struct epoll_event ev;
    if (op == EPOLL_CTL_DEL)
        return epoll_ctl(epfd, op, fd, event);
    if (!event) {
        errno = EINVAL;
        return -1;
    }
    ev = *event;
    /* F-Stack keeps data.ptr as kqueue udata and hands back data.fd when it is NULL. */
    if (ev.data.u64 == 0)
        ev.data.fd = fd;
    /* Peer shutdown must surface as EPOLLHUP on the read side, as kqueue's EV_EOF does. */
    if (ev.events & EPOLLIN)
        ev.events |= EPOLLRDHUP;
    return epoll_ctl(epfd, op, fd, &ev);
}

/* Read side of a Linux event in F-Stack's form, or 0. */
static uint32_t read_part(uint32_t e)
{
    uint32_t out = 0;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        out |= EPOLLIN;
    if (e & (EPOLLRDHUP | EPOLLHUP))
        out |= EPOLLHUP;
    if (out && (e & EPOLLERR))
        out |= EPOLLERR;
    return out;
}

/* Write side of a Linux event in F-Stack's form, or 0. */
static uint32_t write_part(uint32_t e)
{
    uint32_t out = 0;
    if (e & EPOLLOUT) {
        out |= EPOLLOUT;
        if (e & EPOLLHUP)
            out |= EPOLLHUP;
        if (e & EPOLLERR)
            out |= EPOLLERR;
    }
    return out;
}

int ff_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    int n, i, budget, total, pos;
    (void)timeout; /* F-Stack never blocks here */
    if (maxevents <= 0) {
        errno = EINVAL;
        return -1;
    }
    /* Leave room to report read and write readiness of one fd as two events. */
    n = epoll_wait(epfd, events, maxevents > 1 ? maxevents / 2 : 1, 0);
    if (n <= 0)
        return n;
    note_activity();

    /* Decide which events are split while room remains, then expand from the back. */
    budget = maxevents - n;
    total = n;
    for (i = 0; i < n; i++) {
        uint32_t e = events[i].events;
        int both = read_part(e) && write_part(e);
        /* Mark split events with a bit Linux never sets in revents. */
        if (both && budget > 0) {
            events[i].events |= EPOLLEXCLUSIVE;
            budget--;
            total++;
        }
    }
    pos = total;
    for (i = n - 1; i >= 0; i--) {
        struct epoll_event ev = events[i];
        uint32_t e = ev.events & ~(uint32_t)EPOLLEXCLUSIVE;
        uint32_t r = read_part(e), w = write_part(e);
        if (ev.events & EPOLLEXCLUSIVE) {
            events[--pos] = ev;
            events[pos].events = w;
            events[--pos] = ev;
            events[pos].events = r;
        } else {
            events[--pos] = ev;
            if (r || w)
                events[pos].events = r | w;
            else
                /* An error without readiness (e.g. a refused connect not yet polled). */
                events[pos].events = (e & (EPOLLERR | EPOLLHUP)) | EPOLLIN;
        }
    }
    return total;
}
