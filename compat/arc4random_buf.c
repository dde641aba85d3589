/* arc4random_buf(3) for systems without it: the kernel's getrandom(2). */
#include "config.h"

#if !HAVE_ARC4RANDOM_BUF
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>

void
arc4random_buf(void *buf, size_t n)
{
	unsigned char	*p = buf;
	ssize_t		 r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			abort();	/* no randomness: never go on without */
		}
		p += r;
		n -= (size_t)r;
	}
}
#endif
