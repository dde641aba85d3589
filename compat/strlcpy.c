/* strlcpy(3): copy with truncation, returns strlen(src). */
#include "config.h"

#if !HAVE_STRLCPY
#include <string.h>

size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
#endif
