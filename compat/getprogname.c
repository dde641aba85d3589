/* getprogname(3) from glibc's program_invocation_short_name. */
#include "config.h"

#if !HAVE_GETPROGNAME
#include <errno.h>

const char *
getprogname(void)
{
	return program_invocation_short_name;
}
#endif
