/* Runs the gnuplot binary on a generated script, in the report's folder
 * (the script names its data file relatively, so users can rerun it
 * there), and turns a failure into one line: its exit status and the last
 * thing it said. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../nn/nn.h"
#include "report.h"

#define OUTPUT_MAX 4096 /* bytes of gnuplot's messages kept */
#define NOT_FOUND 127   /* the child's status when exec fails, as in sh */

/* Copies the last non-empty line of text into line. */
static void last_line(const char *text, char *line, size_t len)
{
    size_t end = strlen(text);
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' ' || text[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    snprintf(line, len, "%.*s", (int)(end - start), text + start);
}

/* In the child: only async-signal-safe calls until exec. */
static void run_child(const char *dir, const char *script, const char *setvar, int out)
{
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(out, STDERR_FILENO) < 0 || chdir(dir) != 0)
        _exit(126);
    execlp("gnuplot", "gnuplot", "-e", setvar, script, (char *)NULL);
    static const char msg[] = "cannot run gnuplot\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(NOT_FOUND);
}

/* Reads the child's output to its end, keeping the first OUTPUT_MAX - 1 bytes. */
static void drain(int fd, char *buf, size_t len)
{
    size_t used = 0;
    for (;;) {
        char chunk[1024];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < len - 1 - used ? (size_t)n : len - 1 - used;
        memcpy(buf + used, chunk, take);
        used += take;
    }
    buf[used] = '\0';
}

int gnuplot_run(const char *dir, const char *script, const char *outbase, char *err, size_t errlen)
{
    char setvar[REPORT_PATH_MAX];
    snprintf(setvar, sizeof setvar, "outbase='%s'", outbase); /* our own name: no quotes in it */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) /* the child keeps only its dup2 copies */
        return errf(err, errlen, "%s/%s: cannot run gnuplot: %s", dir, script, strerror(errno));
    fflush(stdout); /* or the child would inherit and repeat buffered output */
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        run_child(dir, script, setvar, pipefd[1]);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        return errf(err, errlen, "%s/%s: cannot run gnuplot: %s", dir, script,
                    strerror(fork_errno));
    }
    char output[OUTPUT_MAX], line[512];
    drain(pipefd[0], output, sizeof output);
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return errf(err, errlen, "%s/%s: gnuplot: %s", dir, script, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    last_line(output, line, sizeof line);
    if (WIFEXITED(status) && WEXITSTATUS(status) == NOT_FOUND && !strcmp(line, "cannot run gnuplot"))
        return errf(err, errlen,
                    "%s/%s: cannot run gnuplot (not installed? Debian: apt-get install gnuplot-nox)",
                    dir, script);
    if (WIFSIGNALED(status))
        return errf(err, errlen, "%s/%s: gnuplot killed by signal %d%s%s", dir, script,
                    WTERMSIG(status), line[0] ? ": " : "", line);
    return errf(err, errlen, "%s/%s: gnuplot failed (exit %d)%s%s", dir, script,
                WEXITSTATUS(status), line[0] ? ": " : "", line);
}
