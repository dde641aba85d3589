/* explicit_bzero(3): a memset the compiler may not drop. */
#include "config.h"

#if !HAVE_EXPLICIT_BZERO
#include <string.h>

static void *(*volatile memset_v)(void *, int, size_t) = memset;

void
explicit_bzero(void *p, size_t n)
{
	memset_v(p, 0, n);
}
#endif
