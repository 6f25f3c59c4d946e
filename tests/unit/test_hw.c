/* Hardware descriptions: the presets, the key table, format → set and
 * format_ini → load round trips, --set, and every class of error named with
 * its file and key. Run from the project folder (the presets are read from
 * configs/hw). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/tmpfiles.h"
#include "compiler/hw.h"

static const char *const presets[] = {"generic", "tianji-ann", "tianji-snn", "prime", "truenorth"};
#define N_PRESETS (sizeof presets / sizeof *presets)

/* ------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_hw");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

static void open_preset(const char *name, Hw *hw)
{
    char path[4096], err[1024];
    if (hw_open(name, NULL, 0, hw, path, sizeof path, err, sizeof err) != 0)
        fail_msg("%s: %s", name, err);
    char want[256];
    snprintf(want, sizeof want, "configs/hw/%s.ini", name);
    assert_string_equal(path, want);
}

/* The text of one key, for value checks. */
static const char *get(const Hw *hw, const char *section, const char *key)
{
    static char buf[256];
    const HwKey *k = hw_key_find(section, key);
    assert_non_null(k);
    hw_key_get(hw, k, buf, sizeof buf);
    return buf;
}

/* Loads TEXT as a file and expects an error containing every given part. */
static void expect_load_error(const char *file, const char *text, ...)
{
    const char *p = write_text(file, text);
    Hw hw, before;
    hw_default(&hw);
    before = hw;
    char err[1024] = "";
    int rc = hw_load(p, &hw, err, sizeof err);
    if (rc == 0) /* range errors come from hw_load, consistency errors from hw_check */
        rc = hw_check(&hw, p, err, sizeof err);
    else
        assert_true(hw_equal(&hw, &before)); /* a failed load changes nothing */
    if (rc == 0)
        fail_msg("%s: expected an error", file);
    assert_has(err, p);
    va_list ap;
    va_start(ap, text);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        assert_has(err, part);
    va_end(ap);
    assert_null(strchr(err, '\n'));
}

static void expect_set_error(const char *assignment, ...)
{
    Hw hw, before;
    hw_default(&hw);
    before = hw;
    char err[1024] = "";
    assert_int_equal(hw_set(&hw, assignment, err, sizeof err), -1);
    assert_true(hw_equal(&hw, &before));
    va_list ap;
    va_start(ap, assignment);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        assert_has(err, part);
    va_end(ap);
}

static void expect_check_error(const char *const *sets, int n, ...)
{
    Hw hw;
    hw_default(&hw);
    char err[1024] = "";
    for (int i = 0; i < n; i++)
        if (hw_set(&hw, sets[i], err, sizeof err) != 0)
            fail_msg("%s: %s", sets[i], err);
    assert_int_equal(hw_check(&hw, "ORIGIN", err, sizeof err), -1);
    assert_has(err, "ORIGIN: ");
    va_list ap;
    va_start(ap, n);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        assert_has(err, part);
    va_end(ap);
}

/* ---------------------------------------------------------------- table */

static void test_table(void **state)
{
    (void)state;
    Hw hw;
    hw_default(&hw);
    int section = 0;
    for (int i = 0; i < hw_n_keys; i++) {
        const HwKey *k = &hw_keys[i];
        /* The default parses, and is what hw_default holds. */
        Hw one;
        memset(&one, 0, sizeof one);
        if (hw_key_set(&one, k, k->def) != 0)
            fail_msg("%s.%s: default '%s' does not parse", k->section, k->key, k->def);
        char a[256], b[256];
        hw_key_get(&hw, k, a, sizeof a);
        hw_key_get(&one, k, b, sizeof b);
        assert_string_equal(a, b);
        /* Documented, found by name, grouped by section in hw_sections order. */
        assert_true(k->doc && strlen(k->doc) > 10);
        assert_ptr_equal(hw_key_find(k->section, k->key), k);
        while (section < hw_n_sections && strcmp(hw_sections[section].name, k->section))
            section++;
        if (section == hw_n_sections)
            fail_msg("%s.%s: section out of order or unknown", k->section, k->key);
        char form[512];
        assert_true(hw_key_form(k, form, sizeof form) > 0);
    }
    assert_int_equal(hw_check(&hw, "defaults", NULL, 0), 0);
    assert_string_equal(get(&hw, "target", "name"), "generic");
    assert_int_equal(hw.crossbar.rows, 256);
    assert_int_equal(hw.tune.phases, HW_PHASE_FREE | HW_PHASE_RANGE | HW_PHASE_ROUND);
}

/* -------------------------------------------------------------- presets */

static void test_presets(void **state)
{
    (void)state;
    Hw hw;
    for (size_t i = 0; i < N_PRESETS; i++) {
        open_preset(presets[i], &hw);
        assert_string_equal(hw.target.name, presets[i]);
        assert_int_equal(hw.crossbar.rows, 256);
        assert_int_equal(hw.crossbar.cols, 256);
    }
    /* What DESIGN.md §5 says each preset is. */
    open_preset("tianji-ann", &hw);
    assert_int_equal(hw.target.mode, HW_ANN);
    assert_int_equal(hw.weights.bits, 8);
    assert_int_equal(hw.weights.encoding, HW_ENC_INT);
    assert_int_equal(hw.io.bits, 8);
    assert_int_equal(hw.neuron.activation, HW_ACT_RELU);

    open_preset("tianji-snn", &hw);
    assert_int_equal(hw.target.mode, HW_SNN);
    assert_int_equal(hw.weights.bits, 8);
    assert_int_equal(hw.neuron.activation, HW_ACT_IF);
    assert_int_equal(hw.neuron.reset, HW_RESET_SUBTRACT);
    assert_int_equal(hw.io.window, 16);

    open_preset("prime", &hw);
    assert_int_equal(hw.target.mode, HW_PIM);
    assert_int_equal(hw.weights.bits, 8);
    assert_int_equal(hw.weights.encoding, HW_ENC_CELLS);
    assert_int_equal(hw.weights.cells, 2);
    assert_int_equal(hw.weights.cell_bits, 4);
    assert_int_equal(hw.pim.differential, 1);
    assert_int_equal(hw.io.bits, 6);
    assert_int_equal(hw.pim.dac_bits, 3);
    assert_int_equal(hw.pim.adc_bits, 6);
    assert_int_equal(hw.neuron.activation, HW_ACT_RELU);

    open_preset("truenorth", &hw);
    assert_int_equal(hw.target.mode, HW_SNN);
    assert_int_equal(hw.io.window, 16);
    assert_int_equal(hw.weights.encoding, HW_ENC_AXON_TYPES);
    assert_int_equal(hw.weights.axon_types, 4);
    assert_int_equal(hw.crossbar.fanout, 1);
    assert_int_equal(hw.neuron.activation, HW_ACT_LIF);

    /* generic.ini is the defaults, written out. */
    Hw def;
    hw_default(&def);
    open_preset("generic", &hw);
    assert_true(hw_equal(&hw, &def));
}

/* Every key of the table appears in every preset, in its section, right
 * under a comment block that gives its allowed values. */
static void test_presets_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++) {
        char path[256];
        snprintf(path, sizeof path, "configs/hw/%s.ini", presets[i]);
        char *text = (char *)read_all(path, NULL);
        for (int j = 0; j < hw_n_keys; j++) {
            const HwKey *k = &hw_keys[j];
            char head[64], line[96], form[512];
            snprintf(head, sizeof head, "\n[%s]\n", k->section);
            snprintf(line, sizeof line, "\n%s = ", k->key);
            hw_key_form(k, form, sizeof form);
            const char *sec = strstr(text, head);
            if (!sec)
                fail_msg("%s: no [%s]", path, k->section);
            const char *end = strstr(sec + 1, "\n[");
            const char *at = strstr(sec, line);
            if (!at || (end && at > end))
                fail_msg("%s: [%s] %s missing", path, k->section, k->key);
            /* The comment lines right above the key, joined into one text. */
            const char *key_line = at + 1, *start = key_line;
            while (start > sec + 1) {
                const char *b = start - 1;
                while (b > text && b[-1] != '\n')
                    b--;
                if (*b != ';')
                    break;
                start = b;
            }
            char block[2048] = "";
            for (const char *p = start; p < key_line;) {
                const char *nl = strchr(p, '\n');
                const char *body = p + 1 + (p[1] == ' ');
                size_t used = strlen(block);
                snprintf(block + used, sizeof block - used, "%s%.*s", used ? " " : "",
                         (int)(nl - body), body);
                p = nl + 1;
            }
            if (!strstr(block, form))
                fail_msg("%s: [%s] %s: its comment does not give the allowed values '%s'", path,
                         k->section, k->key, form);
        }
        free(text);
    }
}

/* ---------------------------------------------------------- round trips */

/* format → hw_set of each line, and format_ini → hw_load, give back hw. */
static void roundtrip(const Hw *hw)
{
    int n = hw_format(hw, NULL, 0);
    assert_true(n > 0);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(hw_format(hw, text, (size_t)n + 1), n);
    assert_int_equal((int)strlen(text), n);
    char small[16];
    assert_int_equal(hw_format(hw, small, sizeof small), n); /* truncates, still counts */
    assert_int_equal(strlen(small), sizeof small - 1);

    Hw back;
    hw_default(&back);
    int lines = 0;
    char err[1024];
    for (char *line = text; *line; lines++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        if (hw_set(&back, line, err, sizeof err) != 0)
            fail_msg("%s: %s", line, err);
        line = nl + 1;
    }
    assert_int_equal(lines, hw_n_keys);
    assert_true(hw_equal(&back, hw));
    free(text);

    n = hw_format_ini(hw, NULL, 0);
    text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(hw_format_ini(hw, text, (size_t)n + 1), n);
    const char *p = write_text("roundtrip.ini", text);
    hw_default(&back);
    snprintf(back.target.name, sizeof back.target.name, "other");
    if (hw_load(p, &back, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(hw_equal(&back, hw));
    free(text);
}

static void test_roundtrip(void **state)
{
    (void)state;
    Hw hw;
    for (size_t i = 0; i < N_PRESETS; i++) {
        open_preset(presets[i], &hw);
        roundtrip(&hw);
    }
    /* Awkward values: shortest reals, the largest seed, no phases, a 63-character name. */
    hw_default(&hw);
    const char *sets[] = {
        "neuron.leak=0.1", "pim.noise_sigma=1e-7", "pim.adc_range=0.333333333333333314829616256247",
        "tune.lr=3.0000000000000001e-05", "tune.seed=18446744073709551615", "io.seed=0",
        "tune.phases=none",
        "target.name=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567+-.",
    };
    char err[1024];
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        if (hw_set(&hw, sets[i], err, sizeof err) != 0)
            fail_msg("%s: %s", sets[i], err);
    assert_true(hw.pim.adc_range == 1.0 / 3);
    assert_true(hw.tune.seed == UINT64_MAX);
    assert_string_equal(get(&hw, "neuron", "leak"), "0.1");
    assert_string_equal(get(&hw, "tune", "phases"), "none");
    roundtrip(&hw);
}

/* ------------------------------------------------------------------ set */

static void test_set(void **state)
{
    (void)state;
    Hw hw;
    open_preset("tianji-ann", &hw);
    char err[1024];
    assert_int_equal(hw_set(&hw, "weights.bits=4", err, sizeof err), 0);
    assert_int_equal(hw.weights.bits, 4);
    assert_int_equal(hw_set(&hw, " Crossbar.Rows = 128 ", err, sizeof err), 0);
    assert_int_equal(hw.crossbar.rows, 128);
    assert_int_equal(hw_set(&hw, "tune.phases=round, free", err, sizeof err), 0);
    assert_int_equal(hw.tune.phases, HW_PHASE_FREE | HW_PHASE_ROUND);
    assert_string_equal(get(&hw, "tune", "phases"), "free,round");
    assert_int_equal(hw_set(&hw, "pim.differential=false", err, sizeof err), 0);
    assert_int_equal(hw.pim.differential, 0);
    assert_int_equal(hw_set(&hw, "crossbar.fanout=1e3", err, sizeof err), 0);
    assert_int_equal(hw.crossbar.fanout, 1000);

    /* Overrides apply in order, after the file, before the check. */
    const char *sets[] = {"target.mode=snn", "neuron.activation=lif", "neuron.leak=0.25",
                          "io.window=8", "io.window=32"};
    char path[4096];
    assert_int_equal(hw_open("tianji-ann", sets, 5, &hw, path, sizeof path, err, sizeof err), 0);
    assert_int_equal(hw.target.mode, HW_SNN);
    assert_int_equal(hw.io.window, 32);
    assert_true(hw.neuron.leak == 0.25);
    const char *half[] = {"target.mode=snn"};
    assert_int_equal(hw_open("tianji-ann", half, 1, &hw, path, sizeof path, err, sizeof err), -1);
    assert_has(err, "configs/hw/tianji-ann.ini (with --set): target.mode = snn needs "
                    "neuron.activation = if or lif");
    const char *bad[] = {"weights.bits=4", "weights.bits=17"};
    assert_int_equal(hw_open("tianji-ann", bad, 2, &hw, path, sizeof path, err, sizeof err), -1);
    assert_has(err, "--set weights.bits: bad value '17': expected an integer in 1..16");

    expect_set_error("weights.bits=0", "weights.bits: bad value '0'", "an integer in 1..16", NULL);
    expect_set_error("weights.bits=4.5", "weights.bits", "1..16", NULL);
    expect_set_error("weights.bits=", "weights.bits: bad value ''", NULL);
    expect_set_error("target.mode=spiking", "target.mode: bad value 'spiking'",
                     "one of ann, snn or pim", NULL);
    expect_set_error("pim.differential=maybe", "pim.differential", "yes or no", NULL);
    expect_set_error("tune.lr=0", "tune.lr", "a number in (0, 10]", NULL);
    expect_set_error("pim.noise_sigma=-0.1", "pim.noise_sigma", "[0, 1]", NULL);
    expect_set_error("tune.seed=-1", "tune.seed", "0..18446744073709551615", NULL);
    expect_set_error("tune.seed=18446744073709551616", "tune.seed", NULL);
    expect_set_error("tune.phases=free,free", "tune.phases", "free, range, round, e2e; or none", NULL);
    expect_set_error("tune.phases=fast", "tune.phases", NULL);
    expect_set_error("target.name=a b", "target.name", "letters, digits", NULL);
    expect_set_error("crossbar.fanout=-1", "crossbar.fanout", "0..65536 (0 = unlimited)", NULL);
    expect_set_error("weight.bits=4", "unknown section 'weight'", "target, crossbar, weights",
                     NULL);
    expect_set_error("weights.bitz=4", "weights.bitz: unknown key", "bits, encoding, cell_bits",
                     NULL);
    expect_set_error("weights.bits", "'weights.bits': expected SECTION.KEY=VALUE", NULL);
    expect_set_error("bits=4", "expected SECTION.KEY=VALUE", NULL);
}

/* --------------------------------------------------------------- errors */

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("section.ini", "[target]\nmode = ann\n[xbar]\nrows = 4\n",
                      "section.ini: [xbar]: unknown section", "crossbar", NULL);
    expect_load_error("key.ini", "[crossbar]\nrows = 128\nrowz = 4\n",
                      "key.ini: [crossbar] rowz: unknown key", "rows, cols, fanout", NULL);
    expect_load_error("range.ini", "[crossbar]\nrows = 70000\n",
                      "range.ini: [crossbar] rows: bad value '70000': expected an integer in "
                      "1..65536",
                      NULL);
    expect_load_error("word.ini", "[weights]\nencoding = float\n",
                      "word.ini: [weights] encoding: bad value 'float': expected one of int, "
                      "cells or axon_types",
                      NULL);
    expect_load_error("real.ini", "[pim]\nstuck_at_rate = lots\n",
                      "real.ini: [pim] stuck_at_rate: bad value 'lots'", "[0, 1]", NULL);
    expect_load_error("cells.ini",
                      "[weights]\nbits = 8\nencoding = cells\ncells = 2\ncell_bits = 3\n",
                      "cells.ini: weights.encoding = cells needs weights.cells * "
                      "weights.cell_bits >= weights.bits (2 * 3 = 6 < 8)",
                      NULL);
    expect_load_error("snn.ini", "[target]\nmode = snn\n[neuron]\nactivation = if\n",
                      "snn.ini: target.mode = snn needs io.window", "1..4096", NULL);
    expect_load_error("syntax.ini", "[crossbar]\nrows = 128\ncols 64\n",
                      "syntax.ini: line 3: syntax error", "cols 64", NULL);
    expect_load_error("twice.ini", "[crossbar]\nrows = 128\nrows = 64\n",
                      "twice.ini: line 3: [crossbar] rows: given twice (first at line 2)", NULL);
    expect_load_error("outside.ini", "rows = 128\n[crossbar]\n",
                      "outside.ini: line 1: key 'rows' comes before any [section]", NULL);

    char long_line[3000];
    snprintf(long_line, sizeof long_line, "[crossbar]\nrows = %02000d\n", 1);
    expect_load_error("long.ini", long_line, "long.ini: line 2: input line too long", NULL);
    expect_load_error("binary.ini", "[crossbar]\nrows \001\377\n",
                      "binary.ini: line 2: control byte 0x01: not a text file", NULL);
    expect_load_error("high.ini", "[crossbar]\nrows \377\n",
                      "high.ini: line 2: syntax error: 'rows ?'", NULL);
    expect_load_error("empty.ini", "", "empty.ini: no [section]", NULL);
    expect_load_error("comments.ini", "; only a comment\n\n", "comments.ini: no [section]", NULL);

    char err[1024];
    Hw hw;
    hw_default(&hw);
    assert_int_equal(hw_load(tmp_path("missing.ini"), &hw, err, sizeof err), -1);
    assert_has(err, "missing.ini: cannot read: No such file or directory");
    assert_int_equal(hw_load(g_dir, &hw, err, sizeof err), -1);
    assert_has(err, "cannot read: Is a directory");
    assert_int_equal(hw_open(tmp_path("missing.ini"), NULL, 0, &hw, NULL, 0, err, sizeof err), -1);
    assert_has(err, "missing.ini: cannot read");

    /* A file without [target] name is named after the file. */
    const char *p = write_text("my chip.ini", "[crossbar]\nrows = 64\n");
    hw_default(&hw);
    assert_int_equal(hw_load(p, &hw, err, sizeof err), 0);
    assert_string_equal(hw.target.name, "my_chip");
    assert_int_equal(hw.crossbar.rows, 64);
    assert_int_equal(hw.crossbar.cols, 256);
    /* Comments, quotes and case as iniparser reads them. */
    p = write_text("style.ini", "; a comment\n[CROSSBAR]\nRows = 32 ; inline\n[target]\n"
                                "name = \"quoted\"\n");
    assert_int_equal(hw_load(p, &hw, err, sizeof err), 0);
    assert_int_equal(hw.crossbar.rows, 32);
    assert_string_equal(hw.target.name, "quoted");
}

static void test_check(void **state)
{
    (void)state;
    const char *ann_if[] = {"neuron.activation=if"};
    expect_check_error(ann_if, 1, "target.mode = ann needs neuron.activation = relu (got if)",
                       NULL);
    const char *pim_lif[] = {"target.mode=pim", "neuron.activation=lif"};
    expect_check_error(pim_lif, 2, "target.mode = pim needs neuron.activation = relu (got lif)",
                       NULL);
    const char *snn_relu[] = {"target.mode=snn", "io.window=16"};
    expect_check_error(snn_relu, 2, "target.mode = snn needs neuron.activation = if or lif",
                       NULL);
    const char *snn_window[] = {"target.mode=snn", "neuron.activation=if"};
    expect_check_error(snn_window, 2, "target.mode = snn needs io.window", NULL);
    const char *coding[] = {"io.input_coding=poisson"};
    expect_check_error(coding, 1, "io.input_coding = poisson needs target.mode = snn", NULL);
    const char *leak[] = {"target.mode=snn", "io.window=4", "neuron.activation=if",
                          "neuron.leak=0.5"};
    expect_check_error(leak, 4, "neuron.leak = 0.5 needs neuron.activation = lif (got if)", NULL);
    const char *no_cells[] = {"weights.encoding=cells"};
    expect_check_error(no_cells, 1, "weights.encoding = cells needs weights.cells and "
                                    "weights.cell_bits",
                       NULL);
    const char *few_cells[] = {"weights.encoding=cells", "weights.cells=1", "weights.cell_bits=4"};
    expect_check_error(few_cells, 3, "weights.cells * weights.cell_bits >= weights.bits (1 * 4 = 4 "
                                     "< 8)",
                       NULL);
    const char *axon[] = {"weights.encoding=axon_types"};
    expect_check_error(axon, 1, "weights.encoding = axon_types needs weights.axon_types", "1..256",
                       NULL);
    const char *pim_int[] = {"target.mode=pim", "pim.dac_bits=4"};
    expect_check_error(pim_int, 2, "target.mode = pim needs weights.encoding = cells (got int",
                       NULL);
    const char *pim_dac[] = {"target.mode=pim", "weights.encoding=cells", "weights.cells=2",
                             "weights.cell_bits=4", "io.bits=4", "pim.dac_bits=6"};
    expect_check_error(pim_dac, 6, "target.mode = pim needs pim.dac_bits in 1..io.bits (1..4; got 6)",
                       NULL);
    const char *mesh[] = {"chip.cores=100", "chip.mesh_x=9", "chip.mesh_y=11"};
    expect_check_error(mesh, 3, "chip.mesh_x * chip.mesh_y must hold chip.cores (9 * 11 = 99 < "
                                "100)",
                       NULL);

    /* Keys a mode does not use are ignored: an ANN chip may keep a window. */
    Hw hw;
    hw_default(&hw);
    char err[1024];
    assert_int_equal(hw_set(&hw, "io.window=16", err, sizeof err), 0);
    assert_int_equal(hw_check(&hw, NULL, err, sizeof err), 0);
    /* An ideal PIM crossbar: one cell per weight, one DAC phase, exact ADC. */
    const char *ideal[] = {"target.mode=pim", "weights.encoding=cells", "weights.cells=1",
                           "weights.cell_bits=8", "pim.dac_bits=8"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(hw_set(&hw, ideal[i], err, sizeof err), 0);
    assert_int_equal(hw_check(&hw, NULL, err, sizeof err), 0);
}

static void test_resolve(void **state)
{
    (void)state;
    char path[4096], err[1024];
    assert_int_equal(hw_resolve("prime", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "configs/hw/prime.ini");
    assert_int_equal(hw_resolve("truenorth.ini", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "configs/hw/truenorth.ini");
    assert_int_equal(hw_resolve("tianji", path, sizeof path, err, sizeof err), -1);
    assert_has(err, "unknown hardware description 'tianji'");
    assert_has(err, "presets: generic, prime, tianji-ann, tianji-snn, truenorth");
    assert_int_equal(hw_resolve("", path, sizeof path, err, sizeof err), -1);
    assert_has(err, "tianji-ann");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_presets),
        cmocka_unit_test(test_presets_documented),
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_set),
        cmocka_unit_test(test_load_errors), cmocka_unit_test(test_check),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
