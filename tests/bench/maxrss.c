/*
 * maxrss: run a command and write its peak RSS to a file.
 *
 * Usage: maxrss OUTFILE COMMAND [ARG...]
 *
 * Forks, executes COMMAND, waits for it with wait4(2) and writes
 * "MAXRSS_KIB\n" (ru_maxrss of the child) to OUTFILE; exits with the
 * command's status.  Why not from Python: Linux folds the resident size of
 * the address space that exec(2) replaces into ru_maxrss, so a child of the
 * Python interpreter reports at least the interpreter's RSS (about 15 MB).
 * This launcher is small, so the floor is its own size (about 1 MB).
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct rusage ru;
	FILE *f;
	pid_t pid;
	int status;

	if (argc < 3) {
		fprintf(stderr, "usage: maxrss OUTFILE COMMAND [ARG...]\n");
		return 64;
	}
	if ((pid = fork()) == -1) {
		perror("fork");
		return 71;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) == -1) {
		perror("wait4");
		return 71;
	}
	if ((f = fopen(argv[1], "w")) == NULL) {
		perror(argv[1]);
		return 73;
	}
	fprintf(f, "%ld\n", ru.ru_maxrss);
	fclose(f);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
