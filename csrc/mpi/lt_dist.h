/* lt_dist.h: the MPI layer of lunet.distributed (Open MPI), with no Lua in it: one process
 * group (a duplicate of MPI_COMM_WORLD whose errors return instead of aborting) and
 * collectives on flat buffers, each behind an arrival check that times out, notices ranks
 * that ended, and catches ranks making different calls.
 *
 *   char err[LT_DIST_ERRLEN];
 *   if (lt_dist_init(600.0, err) != LT_DIST_OK) fprintf(stderr, "init: %s\n", err);
 *   float g[1000];                                       // (1000) on every rank
 *   if (lt_dist_all_reduce(g, 1000, LT_DIST_F32, LT_DIST_SUM, 0, err) != LT_DIST_OK) ...
 *   lt_dist_finalize(err);
 *
 * Every collective runs in two phases. The arrival check gathers a small descriptor of the
 * call (kind, dtype, count, op, root, shape, call number) from every rank with a
 * non-blocking all-gather polled until it completes; while polling it watches the clock
 * (the timeout) and the "leave" notices a rank sends when it finalizes or its Lua state
 * closes. Only when every rank has arrived with the same descriptor does the data phase run
 * (blocking MPI_Allreduce / MPI_Bcast / MPI_Allgather, Open MPI's tuned algorithms). So a
 * rank that died, hangs, ended early or calls something else makes the others fail with a
 * message instead of hanging or mixing up buffers. A rank killed outright is handled by
 * mpirun, which ends the whole job.
 *
 * Errors: each function returns a status and writes a message (no function name prefix)
 * into err (LT_DIST_ERRLEN bytes). After a timeout, a leave notice or an MPI error the group
 * is "broken": later calls fail at once with the first message.
 */
#ifndef LT_DIST_H
#define LT_DIST_H

#include <stddef.h>
#include <stdint.h>

#define LT_DIST_ERRLEN 600

typedef enum {
    LT_DIST_OK = 0,
    LT_DIST_EMPI,       /* an MPI call failed (message from MPI_Error_string) */
    LT_DIST_ETIMEOUT,   /* the other ranks did not arrive within the timeout */
    LT_DIST_ELEFT,      /* another rank ended while this one waited */
    LT_DIST_EMISMATCH,  /* the ranks made different calls (nothing was exchanged) */
    LT_DIST_ESTATE,     /* not initialised, finalised, or broken by an earlier failure */
    LT_DIST_ENOMEM,
    LT_DIST_ETOOBIG     /* a count MPI cannot describe */
} lt_dist_status;

typedef enum { LT_DIST_F32 = 0, LT_DIST_I32, LT_DIST_U8, LT_DIST_I64, LT_DIST_F64 } lt_dist_dtype;
typedef enum { LT_DIST_SUM = 0, LT_DIST_MAX, LT_DIST_MIN, LT_DIST_NOOP } lt_dist_op;

size_t lt_dist_dtype_size(lt_dist_dtype dt);
const char *lt_dist_dtype_name(lt_dist_dtype dt);

/* MPI_Init_thread (FUNNELED) unless MPI is already initialised, then the group. timeout in
 * seconds (> 0) bounds every arrival check. Calling it again is a no-op returning OK. */
lt_dist_status lt_dist_init(double timeout, char *err);
int lt_dist_is_initialized(void);   /* init succeeded and finalize has not run */
int lt_dist_is_finalized(void);
int lt_dist_rank(void);
int lt_dist_size(void);
double lt_dist_get_timeout(void);
void lt_dist_set_timeout(double seconds);
const char *lt_dist_version(void);  /* the MPI library's version string */

/* The collectives. shape_hash identifies the caller's shape (ranks must agree on it);
 * counts are elements. all_gather writes size() * count elements, rank k's at k * count. */
lt_dist_status lt_dist_barrier(char *err);
lt_dist_status lt_dist_all_reduce(void *buf, int64_t count, lt_dist_dtype dt, lt_dist_op op,
                                  uint64_t shape_hash, char *err);
lt_dist_status lt_dist_broadcast(void *buf, int64_t count, lt_dist_dtype dt, int root,
                                 uint64_t shape_hash, char *err);
lt_dist_status lt_dist_all_gather(void *out, const void *in, int64_t count, lt_dist_dtype dt,
                                  uint64_t shape_hash, char *err);

/* Sends this rank's leave notice, waits (up to the timeout) for every other rank's, then
 * MPI_Finalize. After a failure (broken group) or when the others do not arrive in time it
 * returns an error without MPI_Finalize, since an unfinished collective would make it hang:
 * the process then ends without it, and mpirun stops the other ranks. */
lt_dist_status lt_dist_finalize(char *err);

/* For the Lua state's close: finalize when init ran and finalize did not; messages go to
 * stderr (there is no caller left to raise to). */
void lt_dist_at_close(void);

#endif
