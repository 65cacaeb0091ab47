/*
 * Replay a fuzz target's corpus without libFuzzer: every regular file in
 * the directories (or files) named on the command line is passed once to
 * LLVMFuzzerTestOneInput.  Prints TAP, one case per file.  A target signals
 * a broken invariant by abort(), which ends the run as a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct name_list {
    char **v;
    size_t n, cap;
};

static void
add_name(struct name_list *l, const char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (l->v == NULL) {
            perror("realloc");
            exit(2);
        }
    }
    l->v[l->n] = strdup(path);
    if (l->v[l->n] == NULL) {
        perror("strdup");
        exit(2);
    }
    l->n++;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
collect(struct name_list *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add_name(l, path);
        return;
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            add_name(l, full);
    }
    closedir(dir);
}

static uint8_t *
read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *p = realloc(buf, cap);
            if (p == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    *size = len;
    return buf;
}

int
main(int argc, char **argv)
{
    struct name_list names = { 0 };
    for (int i = 1; i < argc; i++)
        collect(&names, argv[i]);
    if (names.n == 0) {
        printf("1..0 # SKIP empty corpus\n");
        return 0;
    }
    qsort(names.v, names.n, sizeof(*names.v), compare_names);

    printf("1..%zu\n", names.n);
    int failed = 0;
    for (size_t i = 0; i < names.n; i++) {
        size_t size = 0;
        uint8_t *data = read_file(names.v[i], &size);
        if (data == NULL) {
            printf("not ok %zu - %s: %s\n", i + 1, names.v[i],
                   strerror(errno));
            failed++;
        } else {
            fflush(stdout);
            LLVMFuzzerTestOneInput(data, size);
            printf("ok %zu - %s (%zu bytes)\n", i + 1, names.v[i], size);
            free(data);
        }
        free(names.v[i]);
    }
    free(names.v);
    return failed ? 1 : 0;
}
