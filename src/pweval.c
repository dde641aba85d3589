/*
 * Running a passwordeval command (postern.conf(5)).  The one of the
 * system configuration runs with the spool group (all three gids), so
 * that it can read a secret kept root:postern 0640, in a clean process
 * that owes nothing to the caller: a fixed PATH and no other variable,
 * stdin /dev/null, cwd /, default signal dispositions, an empty signal
 * mask, resource limits raised to their hard limits.  The one of -C runs
 * as the caller, with the caller's environment and without the group,
 * which it cannot get back (no saved gid).  Either way standard input
 * is /dev/null: it is the message, or the -bs session.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define PWEVAL_PATH	"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

/* A clean slate for the system configuration's command. */
static void
clean(void)
{
	struct rlimit	rl;
	int		r;

	for (r = 0; r < RLIM_NLIMITS; r++)
		if (r != RLIMIT_CORE && getrlimit(r, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(r, &rl);
		}
	if (chdir("/") == -1)
		_exit(126);
}

/* The child: never returns. */
static void
child(const char *cmd, int sys, int out)
{
	static char	 path[] = PWEVAL_PATH;
	char		*envp[] = { path, NULL };
	extern char	**environ;
	sigset_t	 none;
	int		 sig, fd;

	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	priv_child(sys);
	if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(fd, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1)
		_exit(126);
	closefrom(STDERR_FILENO + 1);
	if (sys)
		clean();
	execle("/bin/sh", "sh", "-c", cmd, (char *)NULL,
	    sys ? envp : environ);
	_exit(127);
}

/*
 * Run cmd (sys: the system configuration's) and give what it printed
 * in *out (NUL-terminated, *len bytes; the caller wipes it) and its
 * exit status in *status (-1: killed or not run).  -1 with errno when
 * it could not be started.
 */
int
pweval_run(const char *cmd, int sys, char **out, size_t *len, int *status)
{
	char	 buf[8192], *p;
	pid_t	 pid;
	ssize_t	 n;
	int	 fds[2], st;

	*out = NULL;
	*len = 0;
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0)
		child(cmd, sys, fds[1]);
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		p = xcalloc(1, *len + (size_t)n + 1);
		if (*out != NULL) {
			memcpy(p, *out, *len);
			freezero(*out, *len + 1);
		}
		memcpy(p + *len, buf, (size_t)n);
		*len += (size_t)n;
		*out = p;
	}
	explicit_bzero(buf, sizeof(buf));
	close(fds[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = -1;
			break;
		}
	*status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}
