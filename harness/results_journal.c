/* The results journal: every finished job appended to PATH.journal and
 * fsynced at once, so rank 0 can rewrite the whole HDF5 file only now and
 * then (a large sweep's file takes ever longer to rewrite) without losing a
 * job to a kill. A record is a magic word, the CRC-32 (zlib) of the run, and
 * the RunRecord's bytes: a record torn by a kill fails its check and ends
 * the replay. The journal is a scratch file of this build and machine; the
 * HDF5 file is the portable result.
 *
 * A written record survives the process being killed (it is in the page
 * cache); fsync, which guards against the machine going down, is asked for
 * at most every second, so that rank 0 keeps up with many ranks finishing
 * short jobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "harness.h"
#include "results.h"

#define JOURNAL_MAGIC 0x6e6e626au /* "nnbj" */

typedef struct {
    uint32_t magic, crc;
    RunRecord rec;
} JournalEntry;

static void journal_path(const char *results, char *path, size_t len)
{
    snprintf(path, len, "%s.journal", results);
}

int journal_append(const char *results, const RunRecord *rec, int sync, char *err, size_t errlen)
{
    char path[4096];
    journal_path(results, path, sizeof path);
    JournalEntry e;
    memset(&e, 0, sizeof e);
    e.magic = JOURNAL_MAGIC;
    e.rec = *rec;
    e.crc = (uint32_t)crc32(0L, (const Bytef *)&e.rec, sizeof e.rec);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    off_t start = lseek(fd, 0, SEEK_END);
    ssize_t wrote = write(fd, &e, sizeof e);
    int cause = errno;
    if (wrote >= 0 && wrote < (ssize_t)sizeof e) { /* a short write: the rest says why */
        ssize_t more = write(fd, (const char *)&e + wrote, sizeof e - (size_t)wrote);
        cause = more < 0 ? errno : ENOSPC;
    }
    if (wrote != (ssize_t)sizeof e) {
        /* A torn record would shift every record appended after it; cut it off. */
        if (start >= 0 && ftruncate(fd, start) != 0)
            cause = errno;
        close(fd);
        return errf(err, errlen, "%s: cannot append a finished job: %s", path, strerror(cause));
    }
    int synced = sync ? fsync(fd) : 0;
    cause = errno;
    close(fd);
    if (synced)
        return errf(err, errlen, "%s: cannot append a finished job: %s", path, strerror(cause));
    return 0;
}

long journal_replay(const char *results, Results *r, char *err, size_t errlen)
{
    char path[4096];
    journal_path(results, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    long added = 0;
    JournalEntry e;
    while (fread(&e, sizeof e, 1, f) == 1) {
        if (e.magic != JOURNAL_MAGIC || e.crc != (uint32_t)crc32(0L, (const Bytef *)&e.rec, sizeof e.rec))
            break; /* torn by a kill: what follows was never acknowledged */
        e.rec.job[sizeof e.rec.job - 1] = 0;
        if (results_find(r, e.rec.job) >= 0)
            continue;
        if (results_add(r, &e.rec)) {
            fclose(f);
            return errf(err, errlen, "%s: out of memory replaying", path);
        }
        added++;
    }
    fclose(f);
    return added;
}

void journal_remove(const char *results)
{
    char path[4096];
    journal_path(results, path, sizeof path);
    unlink(path);
}
