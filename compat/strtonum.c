/* strtonum(3): a bounded decimal number, with a reason when it is not. */
#include "config.h"

#if !HAVE_STRTONUM
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

long long
strtonum(const char *s, long long min, long long max, const char **errstrp)
{
	long long	 v;
	char		*end;
	const char	*ignored, **errstr = errstrp;

	/* As OpenBSD's and libbsd's: errstrp may be NULL. */
	if (errstr == NULL)
		errstr = &ignored;
	*errstr = NULL;
	if (min > max) {
		*errstr = "invalid";
		errno = EINVAL;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0') {
		*errstr = "invalid";
		errno = EINVAL;
		return 0;
	}
	if ((v == LLONG_MIN && errno == ERANGE) || v < min) {
		*errstr = "too small";
		errno = ERANGE;
		return 0;
	}
	if ((v == LLONG_MAX && errno == ERANGE) || v > max) {
		*errstr = "too large";
		errno = ERANGE;
		return 0;
	}
	return v;
}
#endif
