/* lt_workers.h: the plain-C half of DataLoader workers (no Lua here): shared-memory batch
 * slots (a memfd mapped on both sides, grown on demand), whole-message I/O on the socket
 * between the loader and a worker, and stopping and reaping worker processes.
 * lua_workers.c forks the workers and runs the Lua side.
 *
 *   lt_shm s;
 *   lt_shm_init(&s);
 *   if (lt_shm_create(&s) != LT_OK) ...        // the loader, before fork: an empty memfd
 *   lt_shm_reserve(&s, nbytes);               // a worker: grows the file and its mapping
 *   memcpy(s.map, batch, nbytes);             //   then sends {batch, slot, nbytes} on its socket
 *   lt_shm_map(&s, nbytes);                   // the loader: maps at least nbytes, reads them
 *   lt_shm_close(&s);
 */
#ifndef LT_WORKERS_H
#define LT_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "lt_core.h"

/* One slot: a memfd (fd) and this process's mapping of its first `mapped` bytes. The file
 * only grows (`size`); each side maps it again when a batch needs more than it maps. */
typedef struct lt_shm {
    int fd;
    unsigned char *map;
    size_t mapped;
    size_t size;
} lt_shm;

void lt_shm_init(lt_shm *s);                    /* fd = -1, nothing mapped */
/* A new empty memfd (close-on-exec). LT_ENOMEM with errno set when the kernel refuses. */
lt_status lt_shm_create(lt_shm *s);
/* Writer: makes the file at least n bytes (rounded up to 1 MiB steps) and maps all of it. */
lt_status lt_shm_reserve(lt_shm *s, size_t n);
/* Reader: maps at least n bytes; LT_EARG when the file is shorter than n. */
lt_status lt_shm_map(lt_shm *s, size_t n);
void lt_shm_unmap(lt_shm *s);
void lt_shm_close(lt_shm *s);                   /* unmaps and closes; idempotent */

/* Socket I/O. Sends never raise SIGPIPE (a dead peer gives LT_IO_ERR with errno EPIPE). */
typedef enum {
    LT_IO_OK = 0,
    LT_IO_EOF,       /* the peer closed (or died) before the message was complete */
    LT_IO_INTR,      /* a signal arrived while waiting (the caller lets Lua run its hook) */
    LT_IO_TIMEOUT,   /* nothing arrived within the time given */
    LT_IO_ERR        /* see errno */
} lt_io_result;

lt_io_result lt_io_send(int fd, const void *buf, size_t n);    /* all n bytes */
lt_io_result lt_io_recv(int fd, void *buf, size_t n);          /* exactly n bytes, blocking */
/* Waits until fd is readable or closed: timeout_ms < 0 waits forever. */
lt_io_result lt_io_wait(int fd, int timeout_ms);

/* Processes. lt_proc_poll: 1 when pid has ended (its wait status in *status; -1 when
 * someone else reaped it), 0 while it runs. lt_proc_stop sends SIGTERM to every pid > 0,
 * waits up to grace_ms for them, then SIGKILLs and reaps the rest; stopped pids become 0
 * and their wait status goes to status[i] (may be NULL). */
int lt_proc_poll(pid_t pid, int *status);
void lt_proc_stop(pid_t *pids, int *status, int n, int grace_ms);
/* "exited with status 3", "was killed by signal 9 (Killed)" for a wait status (-1: unknown). */
void lt_proc_describe(int status, char *buf, size_t n);
/* Monotonic milliseconds. */
int64_t lt_now_ms(void);

#endif
