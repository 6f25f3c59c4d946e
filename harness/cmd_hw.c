/* nnbench hw: the effective hardware description (a preset or a file, with
 * --set overrides, checked) as "section.key = value" lines, one JSON object,
 * or a documented INI file to start a new description from. */
#include <stdlib.h>
#include <string.h>

#include "../compiler/hw.h"
#include "harness.h"

static void print_json(const Hw *hw, const char *path)
{
    Json j;
    json_open(&j, stdout);
    json_str(&j, "hw", path);
    for (int i = 0; i < hw_n_keys; i++) {
        const HwKey *k = &hw_keys[i];
        char name[96], v[256];
        snprintf(name, sizeof name, "%s.%s", k->section, k->key);
        hw_key_get(hw, k, v, sizeof v);
        if (hw_key_is_number(k))
            json_raw(&j, name, v);
        else
            json_str(&j, name, v);
    }
    json_close(&j);
}

/* Formats with one of the snprintf-like writers into a buffer of the right size. */
static int print_text(const Hw *hw, int (*format)(const Hw *, char *, size_t))
{
    int n = format(hw, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf)
        return -1;
    format(hw, buf, (size_t)n + 1);
    fputs(buf, stdout);
    free(buf);
    return 0;
}

int cmd_hw(int argc, char **argv)
{
    const char *file = NULL;
    int json = 0, ini = 0, n_sets = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    if (!sets)
        return fail(EXIT_WORK, "hw", "out of memory");
    int rc = EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--json"))
            json = 1;
        else if (!strcmp(o, "--ini"))
            ini = 1;
        else if (!strcmp(o, "--set")) {
            if (i + 1 >= argc) {
                fail(EXIT_USAGE, "hw", "--set needs a value (SECTION.KEY=VALUE)");
                goto done;
            }
            sets[n_sets++] = argv[++i];
        } else if (o[0] == '-' && o[1]) {
            fail(EXIT_USAGE, "hw", "unknown option '%s' (see nnbench --help)", o);
            goto done;
        } else if (file) {
            fail(EXIT_USAGE, "hw", "one hardware description expected, got '%s' and '%s'", file, o);
            goto done;
        } else {
            file = o;
        }
    }
    if (!file) {
        fail(EXIT_USAGE, "hw", "a preset name (such as tianji-ann) or a FILE.ini is required");
        goto done;
    }
    if (json && ini) {
        fail(EXIT_USAGE, "hw", "--json and --ini exclude each other");
        goto done;
    }
    Hw hw;
    char path[4096], err[1024];
    if (hw_open(file, sets, n_sets, &hw, path, sizeof path, err, sizeof err) != 0) {
        fail(EXIT_USAGE, "hw", "%s", err);
        goto done;
    }
    if (json)
        print_json(&hw, path);
    else if (print_text(&hw, ini ? hw_format_ini : hw_format) != 0) {
        rc = fail(EXIT_WORK, "hw", "out of memory");
        goto done;
    }
    rc = EXIT_OK;
done:
    free(sets);
    return rc;
}
