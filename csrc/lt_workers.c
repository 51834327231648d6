/* lt_workers.c: shared-memory batch slots, socket I/O and process reaping for DataLoader
 * workers (see lt_workers.h). Plain POSIX + Linux (memfd_create); no Lua. */
#define _GNU_SOURCE
#include "lt_workers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void lt_shm_init(lt_shm *s) {
    s->fd = -1;
    s->map = NULL;
    s->mapped = 0;
    s->size = 0;
}

lt_status lt_shm_create(lt_shm *s) {
    lt_shm_init(s);
    s->fd = memfd_create("lunet-batch", MFD_CLOEXEC);
    return s->fd < 0 ? LT_ENOMEM : LT_OK;
}

void lt_shm_unmap(lt_shm *s) {
    if (s->map) munmap(s->map, s->mapped);
    s->map = NULL;
    s->mapped = 0;
}

void lt_shm_close(lt_shm *s) {
    lt_shm_unmap(s);
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->size = 0;
}

static lt_status remap(lt_shm *s, size_t n) {
    lt_shm_unmap(s);
    if (n == 0) return LT_OK;
    /* MAP_POPULATE: one call maps every page (a batch touches them all) instead of a
     * page fault per 4 kB */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, 0);
    if (p == MAP_FAILED) return LT_ENOMEM;
    s->map = (unsigned char *)p;
    s->mapped = n;
    return LT_OK;
}

lt_status lt_shm_reserve(lt_shm *s, size_t n) {
    if (s->fd < 0) return LT_EARG;
    if (n <= s->mapped) return LT_OK;
    const size_t step = (size_t)1 << 20;
    if (n > SIZE_MAX - step || n > (size_t)INT64_MAX / 2) return LT_EOVERFLOW;
    size_t want = (n + step - 1) / step * step;
    struct stat st;
    if (fstat(s->fd, &st) != 0) return LT_ENOMEM;
    if ((size_t)st.st_size < want) {
        /* grows the file; a failure (tmpfs full, RLIMIT_FSIZE) leaves it as it was */
        int rc;
        do rc = ftruncate(s->fd, (off_t)want); while (rc != 0 && errno == EINTR);
        if (rc != 0) return LT_ENOMEM;
        s->size = want;
    } else {
        s->size = (size_t)st.st_size;
    }
    return remap(s, s->size);
}

lt_status lt_shm_map(lt_shm *s, size_t n) {
    if (s->fd < 0) return LT_EARG;
    if (n <= s->mapped) return LT_OK;
    struct stat st;
    if (fstat(s->fd, &st) != 0) return LT_ENOMEM;
    if ((size_t)st.st_size < n) return LT_EARG;
    s->size = (size_t)st.st_size;
    return remap(s, s->size);
}

lt_io_result lt_io_send(int fd, const void *buf, size_t n) {
    const char *p = (const char *)buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            return LT_IO_ERR;
        }
        p += k;
        n -= (size_t)k;
    }
    return LT_IO_OK;
}

lt_io_result lt_io_recv(int fd, void *buf, size_t n) {
    char *p = (char *)buf;
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) return LT_IO_EOF;
            return LT_IO_ERR;
        }
        if (k == 0) return LT_IO_EOF;
        p += k;
        n -= (size_t)k;
    }
    return LT_IO_OK;
}

lt_io_result lt_io_wait(int fd, int timeout_ms) {
    struct pollfd pf;
    pf.fd = fd;
    pf.events = POLLIN;
    pf.revents = 0;
    int rc = poll(&pf, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (rc < 0) return errno == EINTR ? LT_IO_INTR : LT_IO_ERR;
    if (rc == 0) return LT_IO_TIMEOUT;
    return LT_IO_OK; /* readable, or hung up: the read that follows tells which */
}

int64_t lt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lt_proc_poll(pid_t pid, int *status) {
    int st = 0;
    pid_t r;
    do r = waitpid(pid, &st, WNOHANG); while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (status) *status = r == pid ? st : -1; /* ECHILD: reaped elsewhere (a SIGCHLD handler) */
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

void lt_proc_stop(pid_t *pids, int *status, int n, int grace_ms) {
    int left = 0;
    for (int i = 0; i < n; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            left++;
        }
    int64_t end = lt_now_ms() + grace_ms;
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            int st;
            if (pids[i] > 0 && lt_proc_poll(pids[i], &st)) {
                if (status) status[i] = st;
                pids[i] = 0;
                left--;
            }
        }
        if (left == 0 || lt_now_ms() >= end) break;
        sleep_ms(1);
    }
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0) continue;
        kill(pids[i], SIGKILL);
        int st = 0;
        pid_t r;
        do r = waitpid(pids[i], &st, 0); while (r < 0 && errno == EINTR);
        if (status) status[i] = r == pids[i] ? st : -1;
        pids[i] = 0;
    }
}

void lt_proc_describe(int status, char *buf, size_t n) {
    if (status == -1) snprintf(buf, n, "ended (its status was collected elsewhere)");
    else if (WIFEXITED(status)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, n, "ended (wait status %d)", status);
}
