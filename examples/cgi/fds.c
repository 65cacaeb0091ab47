/*
 * fds: prints, as text/plain, the descriptors it was started with
 * ("fds: 0 1 2", from /proc/self/fd, without the one reading it), its
 * ids ("uid=N gid=N groups=N"), whether it leads its process group
 * ("pgid=pid yes") and its signal mask and ignored signals
 * ("SigBlk: ...", "SigIgn: ..." as in /proc/self/status).  The
 * integration tests check what a CGI inherits from the worker with it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
    int fds[256];
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < 256) {
            if (e->d_name[0] == '.')
                continue;
            int fd = atoi(e->d_name);
            if (fd != dirfd(d))
                fds[n++] = fd;
        }
        closedir(d);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    fputs("Content-Type: text/plain\n\nfds:", stdout);
    for (size_t i = 0; i < n; i++)
        printf(" %d", fds[i]);
    printf("\nuid=%u gid=%u groups=%d\n", (unsigned)getuid(),
           (unsigned)getgid(), getgroups(0, NULL));
    printf("pgid=pid %s\n", getpgid(0) == getpid() ? "yes" : "no");
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "SigBlk:", 7) == 0 ||
            strncmp(line, "SigIgn:", 7) == 0)
            fputs(line, stdout);
    if (f != NULL)
        fclose(f);
    return 0;
}
