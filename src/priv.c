/*
 * The privilege model (postern(8), "Privileges"): the binary may be
 * installed setgid to a group that owns the spool and may read the system
 * configuration.  Linux checks permissions at every call, so the group is
 * held only around configuration reads and spool operations, and given
 * up (setegid to the real gid) at every other time: never while caller
 * input is parsed, a passwordeval command runs or the network is used.
 * -C gives it up for good (setresgid) before the file is opened.  The
 * process refuses to dump core, so that neither a core file nor
 * /proc/PID/mem shows the configuration's secrets.
 *
 * Without the setgid install, real and effective gid are the same and
 * every function here is a no-op.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "extern.h"

static gid_t	rgid, sgid;	/* the caller's group, the installed one */
static int	revoked;

static void
must(int rc, const char *what)
{
	if (rc == -1) {
		/* Going on with the wrong group is worse than stopping. */
		perror(what);
		_exit(71);
	}
}

void
priv_init(void)
{
	struct rlimit	rl = { 0, 0 };

	rgid = getgid();
	sgid = getegid();
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	priv_drop();
}

/* The group the binary is installed setgid to (the egid it started with). */
gid_t
priv_group(void)
{
	return sgid;
}

void
priv_hold(void)
{
	if (!revoked && sgid != rgid)
		must(setegid(sgid), "setegid");
}

void
priv_drop(void)
{
	if (sgid != rgid)
		must(setegid(rgid), "setegid");
}

/* For good: -C, and anything else that runs on the caller's behalf. */
void
priv_revoke(void)
{
	if (sgid != rgid)
		must(setresgid(rgid, rgid, rgid), "setresgid");
	revoked = 1;
}

/* Was the group given up for good (-C)? */
int
priv_revoked(void)
{
	return revoked;
}
