/* Files in a per-test-run temporary folder, for the tests that read and
 * write files; include after cmocka.h. The group's setup calls
 * tmpdir_setup("NAME"), its teardown tmpdir_teardown. */
#ifndef TESTS_TMPFILES_H
#define TESTS_TMPFILES_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_dir[256];

/* g_dir/name (four results live at a time). */
static inline const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static inline const char *write_text(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static inline void write_bytes(const char *p, const void *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* The whole file, NUL-terminated; its length in *n when n is not NULL. */
static inline unsigned char *read_all(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (n)
        *n = (size_t)len;
    return buf;
}

static inline void assert_has(const char *msg, const char *part)
{
    if (!strstr(msg, part))
        fail_msg("message '%s' lacks '%s'", msg, part);
}

static inline int tmp_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline int tmpdir_setup(const char *name)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/%s.XXXXXX", name);
    return mkdtemp(g_dir) ? 0 : -1;
}

static inline int tmpdir_teardown(void) { return nftw(g_dir, tmp_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif
