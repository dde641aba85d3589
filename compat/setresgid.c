/* setresgid(2) where only setregid(2) exists. */
#include "config.h"

#if !HAVE_SETRESGID
#include <errno.h>
#include <unistd.h>

int
setresgid(gid_t r, gid_t e, gid_t s)
{
	if (r != e || e != s) {
		errno = ENOSYS;
		return -1;
	}
	return setregid(r, e);
}
#endif
