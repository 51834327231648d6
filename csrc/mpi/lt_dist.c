/* lt_dist.c: the MPI layer of lunet.distributed (see lt_dist.h): the process group, the
 * arrival check (descriptor all-gather polled against a deadline and the leave notices),
 * the data phase of each collective, and the leave protocol at finalize. */
#include "lt_dist.h"

#include <mpi.h>

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { KIND_BARRIER = 1, KIND_ALL_REDUCE, KIND_BROADCAST, KIND_ALL_GATHER };
enum { NDESC = 7 };             /* kind, dtype, count, op, root, shape hash, call number */
enum { TAG_LEAVE = 7001 };
/* Data-phase chunk: MPI counts are int. */
#define CHUNK ((int64_t)1 << 30)

static struct {
    int inited, finalized, broken, own_init;
    MPI_Comm comm;              /* collectives (errors return) */
    MPI_Comm ctl;               /* leave notices only */
    int rank, size;
    double timeout;
    int64_t seq;                /* collectives called so far on this rank */
    int64_t *left;              /* rank r's leave notice: -1 before, then its number of calls */
    int nleft;
    int64_t leave_seq;          /* the number sent in this rank's notice */
    int64_t *desc;              /* size * NDESC descriptors of the current call */
    char broken_msg[LT_DIST_ERRLEN];
} G;   /* zero until init */

static const char *const dtype_names[] = {"float32", "int32", "uint8", "int64", "float64"};
static const size_t dtype_sizes[] = {4, 4, 1, 8, 8};
static const char *const op_names[] = {"sum", "max", "min", "none"};

size_t lt_dist_dtype_size(lt_dist_dtype dt) { return dtype_sizes[dt]; }
const char *lt_dist_dtype_name(lt_dist_dtype dt) { return dtype_names[dt]; }

static MPI_Datatype mpi_type(lt_dist_dtype dt) {
    switch (dt) {
    case LT_DIST_F32: return MPI_FLOAT;
    case LT_DIST_I32: return MPI_INT32_T;
    case LT_DIST_U8: return MPI_UINT8_T;
    case LT_DIST_I64: return MPI_INT64_T;
    default: return MPI_DOUBLE;
    }
}

static MPI_Op mpi_op(lt_dist_op op) {
    return op == LT_DIST_MAX ? MPI_MAX : op == LT_DIST_MIN ? MPI_MIN : MPI_SUM;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void set_err(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, LT_DIST_ERRLEN, fmt, ap);
    va_end(ap);
}

/* Marks the group broken with the message already in err; returns st. */
static lt_dist_status breaks(lt_dist_status st, const char *err) {
    if (!G.broken) {
        G.broken = 1;
        snprintf(G.broken_msg, sizeof G.broken_msg, "%s", err);
    }
    return st;
}

static lt_dist_status mpi_fail(int rc, const char *what, char *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
    set_err(err, "%s failed on rank %d: %s", what, G.rank, msg);
    return breaks(LT_DIST_EMPI, err);
}

/* SIGTERM: mpirun sends it to every rank when one dies (or the job is interrupted). The
 * handler names this rank and what it was doing, then dies of the signal as before; it is
 * installed only over the default action. The line is formatted at each call, since a handler
 * may only write(). */
static char term_line[LT_DIST_ERRLEN];
static volatile size_t term_len = 0;

static void set_doing(const char *what) {
    int n = snprintf(term_line, sizeof term_line,
                     "lunet.distributed: rank %d of %d received SIGTERM (mpirun stops every rank when one fails "
                     "or the job is interrupted) %s\n", G.rank, G.size, what);
    term_len = n > 0 && (size_t)n < sizeof term_line ? (size_t)n : 0;
}

static void on_sigterm(int sig) {
    if (term_len > 0) {
        ssize_t w = write(STDERR_FILENO, term_line, term_len);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_sigterm(void) {
    struct sigaction old;
    if (sigaction(SIGTERM, NULL, &old) != 0 || old.sa_handler != SIG_DFL) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

int lt_dist_is_initialized(void) { return G.inited && !G.finalized; }
int lt_dist_is_finalized(void) { return G.finalized; }
int lt_dist_rank(void) { return G.rank; }
int lt_dist_size(void) { return G.size; }
double lt_dist_get_timeout(void) { return G.timeout; }
void lt_dist_set_timeout(double seconds) { G.timeout = seconds; }

const char *lt_dist_version(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) return "unknown";
    char *nl = strchr(v, ',');   /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    if (nl) *nl = '\0';
    return v;
}

lt_dist_status lt_dist_init(double timeout, char *err) {
    if (G.finalized) {
        set_err(err, "MPI was finalized by finalize(); it cannot be initialized again in this process");
        return LT_DIST_ESTATE;
    }
    if (G.inited) return LT_DIST_OK;
    int flag = 0, rc;
    if ((rc = MPI_Finalized(&flag)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Finalized", err);
    if (flag) {
        set_err(err, "MPI was already finalized in this process");
        return LT_DIST_ESTATE;
    }
    if ((rc = MPI_Initialized(&flag)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Initialized", err);
    if (!flag) {
        int provided = 0;
        /* errors of MPI_Init itself cannot be made to return; Open MPI prints and exits */
        if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Init_thread", err);
        G.own_init = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &G.comm)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Comm_dup", err);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &G.ctl)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Comm_dup", err);
    MPI_Comm_set_errhandler(G.comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(G.ctl, MPI_ERRORS_RETURN);
    MPI_Comm_rank(G.comm, &G.rank);
    MPI_Comm_size(G.comm, &G.size);
    G.left = malloc(sizeof(int64_t) * (size_t)G.size);
    if (G.left)
        for (int r = 0; r < G.size; r++) G.left[r] = -1;
    G.desc = malloc(sizeof(int64_t) * NDESC * (size_t)G.size);
    if (!G.left || !G.desc) {
        set_err(err, "cannot allocate the bookkeeping of %d ranks", G.size);
        return LT_DIST_ENOMEM;
    }
    G.timeout = timeout;
    G.inited = 1;
    set_doing("outside any collective call");
    install_sigterm();
    return LT_DIST_OK;
}

/* Receives every leave notice that has arrived. A notice carries the number of collectives
 * its rank entered: a rank that ended after entering call n (as the root of a broadcast may,
 * before the others finish it) is no reason to fail while waiting in call n. */
static void poll_leave(void) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_LEAVE, G.ctl, &flag, &st) != MPI_SUCCESS || !flag) break;
        int64_t calls = 0;
        if (MPI_Recv(&calls, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_LEAVE, G.ctl, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        int src = st.MPI_SOURCE;
        if (src >= 0 && src < G.size && G.left[src] < 0) {
            G.left[src] = calls;
            G.nleft++;
        }
    }
}

/* The lowest rank that ended before entering call number `call` (0-based), or -1. */
static int left_before(int64_t call) {
    if (G.nleft == 0) return -1;
    for (int r = 0; r < G.size; r++)
        if (G.left[r] >= 0 && G.left[r] <= call) return r;
    return -1;
}

static void describe(char *out, size_t n, const int64_t *d) {
    const char *dt = d[1] >= 0 && d[1] <= LT_DIST_F64 ? dtype_names[d[1]] : "?";
    switch (d[0]) {
    case KIND_BARRIER: snprintf(out, n, "barrier"); break;
    case KIND_ALL_REDUCE:
        snprintf(out, n, "all_reduce of %lld %s values (%s)", (long long)d[2], dt,
                 d[3] >= 0 && d[3] <= LT_DIST_NOOP ? op_names[d[3]] : "?");
        break;
    case KIND_BROADCAST:
        snprintf(out, n, "broadcast of %lld %s values from rank %lld", (long long)d[2], dt, (long long)d[4]);
        break;
    case KIND_ALL_GATHER: snprintf(out, n, "all_gather of %lld %s values", (long long)d[2], dt); break;
    default: snprintf(out, n, "an unknown call"); break;
    }
}

/* Polls req until it completes, the timeout passes or another rank's leave notice comes.
 * Spins on MPI_Test (which is what progresses the request) for a millisecond, then sleeps
 * 20 us between tests so a rank that waits long leaves its core to others. */
static lt_dist_status wait_request(MPI_Request *req, const int64_t *mine, char *err) {
    const double t0 = now();
    char what[160];
    for (long spins = 1;; spins++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Test", err);
        if (done) return LT_DIST_OK;
        if (spins % 64) continue;
        poll_leave();
        int who = left_before(mine[6]);
        if (who >= 0) {
            describe(what, sizeof what, mine);
            set_err(err, "rank %d ended (called finalize() or its script stopped, e.g. on an error: "
                    "see its output) while rank %d waits for it in call %lld (%s)",
                    who, G.rank, (long long)mine[6] + 1, what);
            return breaks(LT_DIST_ELEFT, err);
        }
        double t = now();
        if (t - t0 > G.timeout) {
            describe(what, sizeof what, mine);
            set_err(err, "timed out after %g s on rank %d waiting for the other ranks to reach call %lld "
                    "(%s): a rank has died, hangs, or is still busy elsewhere (raise the limit with "
                    "init{timeout = seconds})", G.timeout, G.rank, (long long)mine[6] + 1, what);
            return breaks(LT_DIST_ETIMEOUT, err);
        }
        if (t - t0 > 1e-3) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
}

static lt_dist_status usable(char *err) {
    if (G.finalized) {
        set_err(err, "called after finalize()");
        return LT_DIST_ESTATE;
    }
    if (!G.inited) {
        set_err(err, "lunet.distributed is not initialized: call init() first (and run under mpirun)");
        return LT_DIST_ESTATE;
    }
    if (G.broken) {
        set_err(err, "the process group failed earlier and cannot be used: %s", G.broken_msg);
        return LT_DIST_ESTATE;
    }
    return LT_DIST_OK;
}

/* The arrival check: every rank gathers every rank's descriptor of its current call. */
static lt_dist_status arrive(int kind, lt_dist_dtype dt, int64_t count, lt_dist_op op, int root,
                             uint64_t shape, char *err) {
    lt_dist_status st = usable(err);
    if (st != LT_DIST_OK) return st;
    int64_t mine[NDESC] = {kind, (int64_t)dt, count, (int64_t)op, root, (int64_t)shape, G.seq};
    G.seq++;
    char what[160], doing[200];
    describe(what, sizeof what, mine);
    snprintf(doing, sizeof doing, "in or after call %lld (%s)", (long long)G.seq, what);
    set_doing(doing);
    MPI_Request req;
    int rc = MPI_Iallgather(mine, NDESC, MPI_INT64_T, G.desc, NDESC, MPI_INT64_T, G.comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Iallgather", err);
    if ((st = wait_request(&req, mine, err)) != LT_DIST_OK) return st;
    for (int r = 0; r < G.size; r++) {
        const int64_t *d = G.desc + (size_t)r * NDESC;
        int same = 1;
        for (int k = 0; k < NDESC; k++) same = same && d[k] == G.desc[k];
        if (same) continue;
        char a[160], b[160];
        describe(a, sizeof a, G.desc);
        describe(b, sizeof b, d);
        int shape_only = 1;
        for (int k = 0; k < NDESC; k++) shape_only = shape_only && (k == 5 || d[k] == G.desc[k]);
        if (shape_only)
            set_err(err, "the ranks passed tensors of different shapes (%s): rank 0 and rank %d differ", a, r);
        else
            set_err(err, "the ranks made different calls: rank 0 is in call %lld (%s), rank %d in call %lld (%s); "
                    "every rank must make the same collective calls in the same order with the same sizes",
                    (long long)G.desc[6] + 1, a, r, (long long)d[6] + 1, b);
        return LT_DIST_EMISMATCH;
    }
    return LT_DIST_OK;
}

lt_dist_status lt_dist_barrier(char *err) {
    return arrive(KIND_BARRIER, LT_DIST_U8, 0, LT_DIST_NOOP, 0, 0, err);
}

lt_dist_status lt_dist_all_reduce(void *buf, int64_t count, lt_dist_dtype dt, lt_dist_op op,
                                  uint64_t shape_hash, char *err) {
    lt_dist_status st = arrive(KIND_ALL_REDUCE, dt, count, op, 0, shape_hash, err);
    if (st != LT_DIST_OK) return st;
    const size_t es = dtype_sizes[dt];
    for (int64_t off = 0; off < count; off += CHUNK) {
        int n = (int)(count - off < CHUNK ? count - off : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * es, n, mpi_type(dt), mpi_op(op), G.comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce", err);
    }
    return LT_DIST_OK;
}

lt_dist_status lt_dist_broadcast(void *buf, int64_t count, lt_dist_dtype dt, int root,
                                 uint64_t shape_hash, char *err) {
    lt_dist_status st = arrive(KIND_BROADCAST, dt, count, LT_DIST_NOOP, root, shape_hash, err);
    if (st != LT_DIST_OK) return st;
    const size_t es = dtype_sizes[dt];
    for (int64_t off = 0; off < count; off += CHUNK) {
        int n = (int)(count - off < CHUNK ? count - off : CHUNK);
        int rc = MPI_Bcast((char *)buf + (size_t)off * es, n, mpi_type(dt), root, G.comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast", err);
    }
    return LT_DIST_OK;
}

lt_dist_status lt_dist_all_gather(void *out, const void *in, int64_t count, lt_dist_dtype dt,
                                  uint64_t shape_hash, char *err) {
    if (count > INT_MAX) {
        set_err(err, "%lld values per rank is more than MPI's limit of %d for one all_gather",
                (long long)count, INT_MAX);
        return LT_DIST_ETOOBIG;
    }
    lt_dist_status st = arrive(KIND_ALL_GATHER, dt, count, LT_DIST_NOOP, 0, shape_hash, err);
    if (st != LT_DIST_OK) return st;
    int rc = MPI_Allgather(in, (int)count, mpi_type(dt), out, (int)count, mpi_type(dt), G.comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allgather", err);
    return LT_DIST_OK;
}

/* ---------------------------------------------------------------- leaving */

static MPI_Request *send_leave(void) {
    MPI_Request *reqs = malloc(sizeof(MPI_Request) * (size_t)(G.size > 1 ? G.size : 1));
    G.leave_seq = G.seq;
    for (int r = 0; r < G.size; r++) {
        if (!reqs) break;
        reqs[r] = MPI_REQUEST_NULL;
        if (r != G.rank) MPI_Isend(&G.leave_seq, 1, MPI_INT64_T, r, TAG_LEAVE, G.ctl, &reqs[r]);
    }
    return reqs;
}

static void release(MPI_Request *reqs) {
    free(reqs);
    free(G.left);
    free(G.desc);
    G.left = NULL;
    G.desc = NULL;
}

lt_dist_status lt_dist_finalize(char *err) {
    if (!G.inited) {
        set_err(err, "lunet.distributed is not initialized (call init() first)");
        return LT_DIST_ESTATE;
    }
    if (G.finalized) return LT_DIST_OK;
    G.finalized = 1;
    set_doing("in finalize()");
    MPI_Request *reqs = send_leave();
    if (G.broken) {
        /* A collective never completed on this rank: MPI_Finalize could wait for it forever.
         * The process ends without it, and mpirun then stops the other ranks. */
        set_err(err, "rank %d ends without MPI_Finalize (so mpirun stops the job) after: %s", G.rank,
                G.broken_msg);
        release(reqs);
        return LT_DIST_ESTATE;
    }
    const double t0 = now();
    while (G.nleft < G.size - 1) {
        poll_leave();
        if (G.nleft >= G.size - 1) break;
        if (now() - t0 > G.timeout) {
            char waiting[200] = "";
            size_t k = 0;
            for (int r = 0; r < G.size && k + 12 < sizeof waiting; r++)
                if (r != G.rank && G.left[r] < 0) k += (size_t)snprintf(waiting + k, sizeof waiting - k, k ? ", %d" : "%d", r);
            set_err(err, "rank %d ends without MPI_Finalize (so mpirun stops the job): ranks %s did not reach "
                    "finalize within %g s of it (timeout)", G.rank, waiting, G.timeout);
            G.broken = 1;
            release(reqs);
            return LT_DIST_ETIMEOUT;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    if (reqs) MPI_Waitall(G.size, reqs, MPI_STATUSES_IGNORE);
    release(reqs);
    MPI_Comm_free(&G.comm);
    MPI_Comm_free(&G.ctl);
    if (G.own_init) {
        int rc = MPI_Finalize();
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            set_err(err, "MPI_Finalize failed on rank %d: %s", G.rank, msg);
            return LT_DIST_EMPI;
        }
    }
    return LT_DIST_OK;
}

void lt_dist_at_close(void) {
    if (!G.inited || G.finalized) return;
    char err[LT_DIST_ERRLEN];
    if (lt_dist_finalize(err) != LT_DIST_OK) {
        fprintf(stderr, "lunet.distributed: %s\n", err);
        fflush(stderr);
    }
}
