/* nnbench sweep FILE.ini (or nnbench FILE.ini): the batch job.
 *
 * Without mpirun, or with one rank, this process runs every task itself.
 * With n ranks, rank 0 schedules: its main thread answers the other ranks
 * (each asks for a task, returning the last one's result) and a second
 * thread of rank 0 runs tasks too, so no core idles. Only rank 0's main
 * thread calls MPI (MPI_THREAD_FUNNELED), and only rank 0 writes results.
 * Ranks sharing a machine split its cores: OpenMP threads per rank =
 * cores / ranks on the node (1 with as many ranks as cores), unless
 * OMP_NUM_THREADS says otherwise. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>
#include <omp.h>

#include "sweep_sched.h"

#ifndef NNBENCH_COMMIT /* the Makefile passes the build's git commit */
#define NNBENCH_COMMIT "unknown"
#endif

enum { TAG_ASK = 1, TAG_TASK = 2 };

/* A worker's message to rank 0: the task it finished (-1: none yet) and its outcome. */
typedef struct {
    int task;
    int train_failed;
    char error[1024];
    RunRecord rec;
} Report;

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Runs task k here and fills a report of it. */
static void run_here(const Sweep *s, const SweepTask *t, int k, int rank, Report *r)
{
    memset(r, 0, sizeof *r);
    r->task = k;
    r->train_failed = sweep_run_task(s, &t[k], &r->rec, r->error, sizeof r->error) != 0;
    r->rec.rank = rank;
}

static int take_report(Sched *sc, const Report *r, char *err, size_t errlen)
{
    return sched_finish(sc, r->task, &r->rec, r->train_failed ? r->error : NULL, err, errlen);
}

/* ------------------------------------------------------- rank 0's worker */

typedef struct {
    Sched *sc;
    pthread_mutex_t lock;
    int threads;
    int failed;              /* a scheduler error: stop handing out work */
    char err[1024];
} Shared;

static void *local_worker(void *arg)
{
    Shared *sh = arg;
    omp_set_num_threads(sh->threads);
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        int k = sh->failed ? SCHED_OVER : sched_next(sh->sc, sh->err, sizeof sh->err);
        if (k == SCHED_ERROR)
            sh->failed = 1;
        pthread_mutex_unlock(&sh->lock);
        if (k == SCHED_OVER || k == SCHED_ERROR)
            return NULL;
        if (k == SCHED_WAIT) {
            pause_ms(50);
            continue;
        }
        Report *r = malloc(sizeof *r);
        if (!r) {
            pthread_mutex_lock(&sh->lock);
            sh->failed = 1;
            snprintf(sh->err, sizeof sh->err, "out of memory");
            pthread_mutex_unlock(&sh->lock);
            return NULL;
        }
        run_here(sh->sc->s, sh->sc->t, k, 0, r);
        pthread_mutex_lock(&sh->lock);
        if (take_report(sh->sc, r, sh->err, sizeof sh->err))
            sh->failed = 1;
        pthread_mutex_unlock(&sh->lock);
        free(r);
    }
}

/* Rank 0 with other ranks: answer them until every one has been told to stop. */
static int serve(Sched *sc, int size, int threads, char *err, size_t errlen)
{
    Shared sh = {.sc = sc, .threads = threads};
    pthread_mutex_init(&sh.lock, NULL);
    pthread_t worker;
    if (pthread_create(&worker, NULL, local_worker, &sh)) {
        pthread_mutex_destroy(&sh.lock);
        return errf(err, errlen, "cannot start rank 0's worker thread");
    }
    Report *r = malloc(sizeof *r);
    int stopped = 0;
    while (r && stopped < size - 1) {
        int flag;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            pause_ms(2); /* a blocking receive would spin a core */
            continue;
        }
        MPI_Recv(r, (int)sizeof *r, MPI_BYTE, st.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        pthread_mutex_lock(&sh.lock);
        if (r->task >= 0 && !sh.failed && take_report(sc, r, sh.err, sizeof sh.err))
            sh.failed = 1;
        int k = sh.failed ? SCHED_OVER : sched_next(sc, sh.err, sizeof sh.err);
        if (k == SCHED_ERROR) {
            sh.failed = 1;
            k = SCHED_OVER;
        }
        pthread_mutex_unlock(&sh.lock);
        MPI_Send(&k, 1, MPI_INT, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
        stopped += k == SCHED_OVER;
    }
    pthread_join(worker, NULL);
    pthread_mutex_destroy(&sh.lock);
    if (!r)
        return errf(err, errlen, "out of memory");
    free(r);
    if (sh.failed)
        return errf(err, errlen, "%s", sh.err);
    return 0;
}

/* Ranks 1..n-1: ask, run, report, until told to stop. */
static void work(const Sweep *s, const SweepTask *t, int rank)
{
    Report *r = calloc(1, sizeof *r);
    if (!r)
        MPI_Abort(MPI_COMM_WORLD, 1);
    r->task = -1;
    for (;;) {
        int k;
        MPI_Send(r, (int)sizeof *r, MPI_BYTE, 0, TAG_ASK, MPI_COMM_WORLD);
        MPI_Recv(&k, 1, MPI_INT, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (k == SCHED_OVER)
            break;
        if (k == SCHED_WAIT) {
            memset(r, 0, sizeof *r);
            r->task = -1;
            pause_ms(100);
            continue;
        }
        run_here(s, t, k, rank, r);
    }
    free(r);
}

/* One process: run everything in order. */
static int run_alone(Sched *sc, char *err, size_t errlen)
{
    Report *r = malloc(sizeof *r);
    if (!r)
        return errf(err, errlen, "out of memory");
    int rc = 0;
    for (;;) {
        int k = sched_next(sc, err, errlen);
        if (k == SCHED_OVER || k == SCHED_ERROR || k == SCHED_WAIT) { /* WAIT cannot happen alone */
            rc = k == SCHED_OVER ? 0 : -1;
            break;
        }
        run_here(sc->s, sc->t, k, 0, r);
        if (take_report(sc, r, err, errlen)) {
            rc = -1;
            break;
        }
    }
    free(r);
    return rc;
}

/* ------------------------------------------------------------ the command */

/* The sweep's figures and CSV, as `nnbench report RESULTS -o DIR` writes them. */
static int sweep_report(const char *results, const char *dir)
{
    char *argv[] = {"report", (char *)results, "-o", (char *)dir, NULL};
    return cmd_report(4, argv);
}

static void dry_run(const Sweep *s, const SweepTask *t, int n)
{
    int jobs = 0;
    for (int k = 0; k < n; k++) {
        if (t[k].kind == TASK_TRAIN)
            printf("train  %s (seed %ld) -> %s\n", s->models[t[k].model].name, t[k].seed, t[k].model_path);
        else
            printf("job    %s\n", t[k].key);
        jobs += t[k].kind == TASK_JOB;
    }
    printf("%d jobs, %d trainings; results in %s, report in %s\n", jobs, n - jobs, s->output, s->report);
}

/* The results so far: the file of an interrupted run, or a new table. */
static int open_results(const Sweep *s, int ranks, Results *res, char *err, size_t errlen)
{
    results_init(res);
    if (access(s->output, F_OK) == 0) {
        if (results_load(s->output, res, err, errlen))
            return -1;
        int same = res->n_axes == s->n_axes;
        for (int a = 0; a < s->n_axes && same; a++)
            same = !strcmp(res->axis_key[a], s->axes[a].key);
        if (!same)
            return errf(err, errlen, "%s: holds a sweep with other axes; remove it or set [sweep] output", s->output);
        free(res->meta.config);
        res->meta.config = NULL;
    } else {
        res->n_axes = s->n_axes;
        for (int a = 0; a < s->n_axes; a++)
            sweep_copy(res->axis_key[a], sizeof res->axis_key[a], s->axes[a].key);
        now_iso(res->meta.started, sizeof res->meta.started);
    }
    sweep_copy(res->meta.version, sizeof res->meta.version, NNBENCH_VERSION);
    sweep_copy(res->meta.commit, sizeof res->meta.commit, NNBENCH_COMMIT);
    gethostname(res->meta.host, sizeof res->meta.host - 1);
    res->meta.ranks = ranks;
    res->meta.finished[0] = 0;
    res->meta.config = s->text ? strdup(s->text) : NULL;
    /* Jobs finished after the last rewrite of an interrupted run. */
    return journal_replay(s->output, res, err, errlen) < 0 ? -1 : 0;
}

static int launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int cmd_sweep(int argc, char **argv)
{
    const char *file = NULL;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dry-run"))
            dry = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return fail(EXIT_USAGE, "sweep", "unknown option '%s' (see nnbench --help)", argv[i]);
        else if (file)
            return fail(EXIT_USAGE, "sweep", "one sweep file expected, got '%s' and '%s'", file, argv[i]);
        else
            file = argv[i];
    }
    if (!file)
        return fail(EXIT_USAGE, "sweep", "a sweep file is required (e.g. configs/quick.ini)");
    int mpi = !dry && launched_by_mpirun(), rank = 0, size = 1, local = 1;
    if (mpi) {
        int provided;
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
        if (provided < MPI_THREAD_FUNNELED && size > 1) {
            if (rank == 0)
                fail(EXIT_WORK, "sweep", "this MPI gives no thread support (FUNNELED needed)");
            MPI_Finalize();
            return EXIT_WORK;
        }
    }
    /* OMP_NUM_THREADS, when set, is the user's; else the node's cores are shared out. */
    int threads = getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : omp_get_num_procs() / local;
    threads = threads > 0 ? threads : 1;
    omp_set_num_threads(threads);
    char err[1024];
    Sweep s;
    SweepTask *t = NULL;
    int n = 0, rc = EXIT_USAGE;
    Results res;
    results_init(&res);
    if (sweep_load(file, &s, err, sizeof err) || sweep_expand(&s, &t, &n, err, sizeof err)) {
        if (rank == 0)
            fail(EXIT_USAGE, "sweep", "%s", err);
        goto done;
    }
    if (dry) {
        dry_run(&s, t, n);
        rc = EXIT_OK;
        goto done;
    }
    /* The output's folder is made (results/ on a fresh clone); every rank
     * sees the same outcome, so none starts when it cannot be written. */
    if (make_parent_dirs(s.output, err, sizeof err) || check_output_path(s.output, err, sizeof err)) {
        if (rank == 0)
            fail(EXIT_USAGE, "sweep", "%s: [sweep] output: %s", file, err);
        rc = EXIT_USAGE;
        goto done;
    }
    if (rank > 0) {
        work(&s, t, rank);
        rc = EXIT_OK;
        goto done;
    }
    Sched sc;
    rc = EXIT_WORK;
    if (open_results(&s, size, &res, err, sizeof err) || sched_init(&sc, &s, t, n, &res, err, sizeof err)) {
        fail(EXIT_WORK, "sweep", "%s", err);
        if (mpi) /* the other ranks are waiting for work */
            MPI_Abort(MPI_COMM_WORLD, EXIT_WORK);
        goto done;
    }
    if (sc.resumed)
        fprintf(stderr, "[%s] resuming %s: %d of %d jobs already done\n", s.name, s.output, sc.resumed,
                sc.total_jobs);
    int failed = size > 1 ? serve(&sc, size, threads, err, sizeof err) : run_alone(&sc, err, sizeof err);
    if (!failed) {
        now_iso(res.meta.finished, sizeof res.meta.finished);
        failed = results_save(&res, s.output, err, sizeof err);
        if (!failed) /* the file holds every job now */
            journal_remove(s.output);
    }
    if (failed) {
        fail(EXIT_WORK, "sweep", "%s", err);
    } else {
        int bad_jobs = 0;
        for (size_t i = 0; i < res.n; i++)
            bad_jobs += strcmp(res.runs[i].status, "ok") != 0;
        fprintf(stderr, "[%s] finished: %zu jobs in %s, %d failed\n", s.name, res.n, s.output, bad_jobs);
        rc = bad_jobs ? EXIT_WORK : EXIT_OK;
        int rep = sweep_report(s.output, s.report);
        if (rep && rc == EXIT_OK)
            rc = rep;
    }
    sched_free(&sc);
done:
    results_free(&res);
    free(t);
    sweep_free(&s);
    if (mpi)
        MPI_Finalize();
    return rc;
}
