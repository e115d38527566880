/*
 * fuzz-replay: run fuzz inputs through the RSC oracle, without libFuzzer
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   fuzz-replay [-v] FILE|DIR...
 *
 * Runs every file given, and every file in every directory given (sorted,
 * names starting with '.' or "README" skipped), once through the oracle of
 * fuzz-rsc.  Exits 1 if the oracle reports a violation for any of them,
 * 2 on a usage or I/O error.  -v logs every operation and delivery.
 */

#include "qemu/osdep.h"
#include <setjmp.h>
#include "rsc-oracle.h"

static jmp_buf fail_jmp;

static void on_fail(const char *msg)
{
    longjmp(fail_jmp, 1);
}

/* Returns false if the oracle failed */
static bool run_file(const char *path, unsigned *runs)
{
    gchar *data;
    gsize size;
    GError *err = NULL;
    /* volatile: kept across longjmp */
    volatile bool ok = true;

    if (!g_file_get_contents(path, &data, &size, &err)) {
        fprintf(stderr, "fuzz-replay: %s\n", err->message);
        exit(2);
    }
    if (setjmp(fail_jmp) == 0) {
        rsc_oracle_run((const uint8_t *)data, size);
    } else {
        /* the engine and the oracle's state leak: fine for a test */
        fprintf(stderr, "fuzz-replay: FAILED %s\n", path);
        ok = false;
    }
    g_free(data);
    (*runs)++;
    return ok;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool run_dir(const char *path, unsigned *runs)
{
    GError *err = NULL;
    GDir *dir = g_dir_open(path, 0, &err);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    bool ok = true;
    size_t i;

    if (!dir) {
        fprintf(stderr, "fuzz-replay: %s\n", err->message);
        exit(2);
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        if (name[0] != '.' && !g_str_has_prefix(name, "README")) {
            g_ptr_array_add(names, g_build_filename(path, name, NULL));
        }
    }
    g_dir_close(dir);
    g_ptr_array_sort(names, cmp_str);
    for (i = 0; i < names->len; i++) {
        const char *p = g_ptr_array_index(names, i);

        if (!g_file_test(p, G_FILE_TEST_IS_DIR) && !run_file(p, runs)) {
            ok = false;
        }
    }
    g_ptr_array_free(names, true);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned runs = 0;
    bool ok = true;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: fuzz-replay [-v] FILE|DIR...\n");
        return 2;
    }
    rsc_oracle_set_fail_handler(on_fail);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) {
            rsc_oracle_set_verbose(true);
        } else if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            ok &= run_dir(argv[i], &runs);
        } else {
            ok &= run_file(argv[i], &runs);
        }
    }
    printf("fuzz-replay: %u inputs, %s\n", runs, ok ? "all passed" : "FAILED");
    return ok ? 0 : 1;
}
