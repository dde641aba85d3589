/* freezero(3): wipe, then free. */
#include "config.h"

#if !HAVE_FREEZERO
#include <stdlib.h>
#include <string.h>

void
freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}
#endif
