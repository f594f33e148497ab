/* mproc_wait()'s OS part on POSIX: one poll() over every descriptor the items gave (no cap but
 * the process's descriptor limit), and a pipe as the notifier of a sleeping wait. */
#define _GNU_SOURCE
#include "posix.h"
#include "../sync/waitable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>

struct mproc__notifier {
    mproc__handle rd, wr;
};

int mproc__os_notifier_create(mproc__notifier **out)
{
    mproc__notifier *n = mproc__malloc(sizeof *n);
    int r;
    if (n == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_pipe(&n->rd, &n->wr);
    if (r < 0) {
        mproc__free(n);
        return r;
    }
    /* Never blocks: a full pipe already says "look again". */
    fcntl((int)n->rd, F_SETFL, fcntl((int)n->rd, F_GETFL) | O_NONBLOCK);
    fcntl((int)n->wr, F_SETFL, fcntl((int)n->wr, F_GETFL) | O_NONBLOCK);
    *out = n;
    return MPROC_OK;
}

mproc__handle mproc__os_notifier_handle(mproc__notifier *n)
{
    return n->rd;
}

void mproc__os_notifier_signal(mproc__notifier *n)
{
    char c = 1;
    ssize_t w;
    int saved = errno;
    do
        w = write((int)n->wr, &c, 1);
    while (w < 0 && errno == EINTR);
    errno = saved;
}

void mproc__os_notifier_clear(mproc__notifier *n)
{
    char buf[64];
    int saved = errno;
    while (read((int)n->rd, buf, sizeof buf) > 0) {
    }
    errno = saved;
}

void mproc__os_notifier_destroy(mproc__notifier *n)
{
    if (n == NULL)
        return;
    mproc__os_close(n->rd);
    mproc__os_close(n->wr);
    mproc__free(n);
}

int mproc__os_wait_handles(const mproc__handle *h, size_t n, long timeout_ms, unsigned char *fired)
{
    struct pollfd *p;
    uint64_t start = mproc__os_now_ms();
    size_t i;
    int r;

    if (n == 0) {
        if (timeout_ms < 0)
            return MPROC_EINVAL;
        mproc__os_sleep_ms(timeout_ms);
        return 0;
    }
    if (n > (size_t)INT_MAX / sizeof *p)
        return MPROC_ENOMEM;
    p = mproc__malloc(n * sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        p[i].fd = h[i] >= 0 && h[i] <= INT_MAX ? (int)h[i] : -1;
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    for (;;) {
        long left = timeout_ms;
        if (timeout_ms > 0) {
            uint64_t spent = mproc__os_now_ms() - start;
            left = spent >= (uint64_t)timeout_ms ? 0 : (long)((uint64_t)timeout_ms - spent);
        }
        r = poll(p, (nfds_t)n, left > INT_MAX ? INT_MAX : (int)left);
        if (r >= 0 || errno != EINTR)
            break;
    }
    if (r < 0) {
        r = mproc__sys_error(errno);
    } else if (r > 0 && fired != NULL) {
        for (i = 0; i < n; i++)
            fired[i] = p[i].revents != 0;
    }
    mproc__free(p);
    return r;
}
