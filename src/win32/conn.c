/* A Pipe's two byte streams on Windows: one duplex named pipe, overlapped, so that a read can
 * wait with a timeout in the kernel (an anonymous pipe cannot). Its name is unique and never
 * reused; only its two handles can reach it once both ends are open. */
#include "win32.h"

#include "../ipc/conn.h"

#include <stdio.h>
#include <string.h>

/* Windows Vista's flag (0x8): the MSVC-compatible headers of Wine lack it. */
#ifndef PIPE_REJECT_REMOTE_CLIENTS
    #define PIPE_REJECT_REMOTE_CLIENTS 0x00000008
#endif

/* One WriteFile or ReadFile at most this much. */
#define IO_CHUNK (1u << 20)
#define PIPE_BUFFER 65536

typedef struct wconn {
    HANDLE rev, wev; /* the events of the read and the write under way */
    int peeked;      /* poll read a byte ahead */
    unsigned char peek;
} wconn;

static volatile LONG name_counter;

void mproc__os_conn_big_buffer(void *p, size_t len)
{
    /* No huge pages for a plain allocation here: a plain buffer it stays. */
    (void)p;
    (void)len;
}

/* No shared rings here: the bodies go down the pipe (see ipc/conn.h). A Windows process cannot
 * sleep on a word another process changes (WaitOnAddress is one process's). */
int mproc__os_conn_ring_works(void)
{
    return 0;
}

void mproc__os_conn_ring_wait(volatile uint32_t *p, uint32_t seen, long ms)
{
    (void)p;
    (void)seen;
    mproc__os_sleep_ms(ms > 1 ? 1 : ms);
}

int mproc__os_conn_peer_gone(mproc__conn *c)
{
    (void)c;
    return MPROC_ENOTSUP;
}

int mproc__os_conn_try_write(mproc__conn *c, const void *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return MPROC_ENOTSUP;
}

static int is_end_error(DWORD err)
{
    return err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA || err == ERROR_HANDLE_EOF ||
           err == ERROR_PIPE_NOT_CONNECTED;
}

static wconn *wconn_new(void)
{
    wconn *w = mproc__calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->rev = CreateEventW(NULL, TRUE, FALSE, NULL);
    w->wev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (w->rev == NULL || w->wev == NULL) {
        DWORD err = GetLastError();
        if (w->rev != NULL)
            CloseHandle(w->rev);
        if (w->wev != NULL)
            CloseHandle(w->wev);
        mproc__free(w);
        SetLastError(err);
        return NULL;
    }
    return w;
}

static void wconn_free(wconn *w)
{
    if (w == NULL)
        return;
    CloseHandle(w->rev);
    CloseHandle(w->wev);
    mproc__free(w);
}

int mproc__os_conn_pair(mproc__conn *a, mproc__conn *b)
{
    SECURITY_ATTRIBUTES sa;
    wchar_t name[96];
    HANDLE server = INVALID_HANDLE_VALUE, client = INVALID_HANDLE_VALUE;
    OVERLAPPED ov;
    DWORD err = ERROR_SUCCESS, got;
    wconn *wa = NULL, *wb = NULL;

    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->rd = a->wr = a->guard = b->rd = b->wr = b->guard = MPROC__INVALID_HANDLE;
    sa.nLength = sizeof sa;
    sa.lpSecurityDescriptor = NULL;
    sa.bInheritHandle = FALSE;
    swprintf(name, sizeof name / sizeof name[0], L"\\\\.\\pipe\\mproc-%lu-%ld-%llu",
             (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&name_counter),
             (unsigned long long)mproc__w32_now_ms());
    /* The first instance and the only one: no other process can take the name over. */
    server = CreateNamedPipeW(
        name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
        PIPE_BUFFER, PIPE_BUFFER, 0, &sa);
    if (server == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        goto finish;
    }
    client = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, &sa, OPEN_EXISTING,
                         FILE_FLAG_OVERLAPPED, NULL);
    if (client == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        goto finish;
    }
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (ov.hEvent == NULL) {
        err = GetLastError();
        goto finish;
    }
    if (!ConnectNamedPipe(server, &ov)) {
        err = GetLastError();
        if (err == ERROR_IO_PENDING)
            err = GetOverlappedResult(server, &ov, &got, TRUE) ? ERROR_SUCCESS : GetLastError();
        else if (err == ERROR_PIPE_CONNECTED)
            err = ERROR_SUCCESS;
    }
    CloseHandle(ov.hEvent);
    if (err != ERROR_SUCCESS)
        goto finish;
    wa = wconn_new();
    wb = wconn_new();
    if (wa == NULL || wb == NULL) {
        err = GetLastError();
        if (err == ERROR_SUCCESS)
            err = ERROR_NOT_ENOUGH_MEMORY;
        goto finish;
    }
    a->rd = a->wr = MPROC__HV(server);
    b->rd = b->wr = MPROC__HV(client);
    a->os = wa;
    b->os = wb;
    return MPROC_OK;

finish:
    if (server != INVALID_HANDLE_VALUE)
        CloseHandle(server);
    if (client != INVALID_HANDLE_VALUE)
        CloseHandle(client);
    wconn_free(wa);
    wconn_free(wb);
    if (err == ERROR_NOT_ENOUGH_MEMORY)
        return MPROC_ENOMEM;
    return mproc__sys_error((long)err);
}

/* One overlapped WriteFile of all n bytes (in chunks), waited for. */
static int write_all(HANDLE h, HANDLE ev, const unsigned char *p, size_t n)
{
    while (n > 0) {
        OVERLAPPED ov;
        DWORD put = 0, want = n > IO_CHUNK ? IO_CHUNK : (DWORD)n;
        BOOL ok;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = ev;
        ResetEvent(ev);
        ok = WriteFile(h, p, want, NULL, &ov);
        if (!ok && GetLastError() != ERROR_IO_PENDING) {
            DWORD err = GetLastError();
            return is_end_error(err) ? MPROC_EEND : mproc__sys_error((long)err);
        }
        if (!GetOverlappedResult(h, &ov, &put, TRUE)) {
            DWORD err = GetLastError();
            return is_end_error(err) ? MPROC_EEND : mproc__sys_error((long)err);
        }
        if (put == 0)
            return mproc__sys_error(ERROR_WRITE_FAULT);
        p += put;
        n -= put;
    }
    return MPROC_OK;
}

int mproc__os_conn_write(mproc__conn *c, const void *hdr, size_t hlen, const void *data, size_t len)
{
    wconn *w = c->os;
    unsigned char small[4096];
    int r;

    if (w == NULL || c->wr == MPROC__INVALID_HANDLE)
        return MPROC_EINVAL;
    /* A small message goes in one write. */
    if (hlen + len <= sizeof small) {
        memcpy(small, hdr, hlen);
        if (len > 0)
            memcpy(small + hlen, data, len);
        return write_all(MPROC__H(c->wr), w->wev, small, hlen + len);
    }
    r = write_all(MPROC__H(c->wr), w->wev, hdr, hlen);
    if (r == MPROC_OK)
        r = write_all(MPROC__H(c->wr), w->wev, data, len);
    return r;
}

/* One overlapped read of up to cap bytes, waiting up to timeout_ms (negative: forever). */
static long read_once(HANDLE h, HANDLE ev, void *buf, size_t cap, long timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? mproc__w32_now_ms() : 0;
    OVERLAPPED ov;
    DWORD got = 0, want = cap > IO_CHUNK ? IO_CHUNK : (DWORD)cap, err;

    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    ResetEvent(ev);
    if (!ReadFile(h, buf, want, NULL, &ov)) {
        err = GetLastError();
        if (is_end_error(err))
            return 0;
        if (err != ERROR_IO_PENDING)
            return mproc__sys_error((long)err);
        for (;;) {
            DWORD wr = WaitForSingleObject(ev, mproc__w32_remaining(start, timeout_ms));
            if (wr == WAIT_OBJECT_0)
                break;
            if (wr == WAIT_FAILED) {
                err = GetLastError();
                CancelIoEx(h, &ov);
                GetOverlappedResult(h, &ov, &got, TRUE);
                return mproc__sys_error((long)err);
            }
            /* A wait may end up to a tick early. */
            if (timeout_ms >= 0 && mproc__w32_remaining(start, timeout_ms) == 0) {
                /* Cancelled, then waited for: the read is over, whatever it got is kept. */
                CancelIoEx(h, &ov);
                if (GetOverlappedResult(h, &ov, &got, TRUE) && got > 0)
                    return (long)got;
                err = GetLastError();
                if (is_end_error(err))
                    return 0;
                return MPROC_ETIMEDOUT;
            }
        }
    }
    if (!GetOverlappedResult(h, &ov, &got, TRUE)) {
        err = GetLastError();
        if (is_end_error(err))
            return 0;
        return mproc__sys_error((long)err);
    }
    if (got == 0) /* a zero-byte write of the other end: not the end, nothing either */
        return timeout_ms == 0 ? MPROC_ETIMEDOUT : read_once(h, ev, buf, cap, timeout_ms);
    return (long)got;
}

long mproc__os_conn_read(mproc__conn *c, void *buf, size_t cap, long timeout_ms)
{
    wconn *w = c->os;
    if (w == NULL || c->rd == MPROC__INVALID_HANDLE || cap == 0)
        return MPROC_EINVAL;
    if (w->peeked) {
        ((unsigned char *)buf)[0] = w->peek;
        w->peeked = 0;
        return 1;
    }
    return read_once(MPROC__H(c->rd), w->rev, buf, cap, timeout_ms);
}

mproc__handle mproc__os_conn_wait_handle(const mproc__conn *c)
{
    /* A pipe handle is signalled by no readiness of its own; PeekNamedPipe is looked at. */
    (void)c;
    return MPROC__INVALID_HANDLE;
}

int mproc__os_conn_poll(mproc__conn *c, long timeout_ms)
{
    wconn *w = c->os;
    DWORD avail = 0;
    long n;

    if (w == NULL || c->rd == MPROC__INVALID_HANDLE)
        return MPROC_EINVAL;
    if (w->peeked)
        return 1;
    if (!PeekNamedPipe(MPROC__H(c->rd), NULL, 0, NULL, &avail, NULL))
        return is_end_error(GetLastError()) ? 1 : mproc__sys_error((long)GetLastError());
    if (avail > 0)
        return 1;
    if (timeout_ms == 0)
        return 0;
    /* No event says "readable" for a pipe: a one-byte read does, and its byte waits here for
     * the next read. */
    n = read_once(MPROC__H(c->rd), w->rev, &w->peek, 1, timeout_ms);
    if (n == MPROC_ETIMEDOUT)
        return 0;
    if (n < 0)
        return (int)n;
    w->peeked = n == 1;
    return 1;
}

size_t mproc__os_conn_handles(const mproc__conn *c, mproc__handle *h)
{
    h[0] = c->rd;
    return 1;
}

int mproc__os_conn_adopt(mproc__conn *c, const mproc__handle *h, size_t n)
{
    DWORD type;
    memset(c, 0, sizeof *c);
    c->rd = c->wr = c->guard = MPROC__INVALID_HANDLE;
    if (n != 1 || h[0] == MPROC__INVALID_HANDLE || h[0] == 0)
        return MPROC_EPROTO;
    type = GetFileType(MPROC__H(h[0]));
    if (type != FILE_TYPE_PIPE)
        return MPROC_EPROTO;
    c->os = wconn_new();
    if (c->os == NULL)
        return mproc__sys_error((long)GetLastError());
    c->rd = c->wr = h[0];
    return MPROC_OK;
}

void mproc__os_conn_close(mproc__conn *c, int own)
{
    if (own && c->rd != MPROC__INVALID_HANDLE && c->rd != 0)
        CloseHandle(MPROC__H(c->rd));
    wconn_free(c->os);
    c->os = NULL;
    c->rd = c->wr = c->guard = MPROC__INVALID_HANDLE;
}
