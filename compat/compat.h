/*
 * Prototypes for the replacements in compat/, one file per function, each
 * compiled only when configure found the function missing (HAVE_* 0).
 * Included last by config.h.
 */
#ifndef POSTERN_COMPAT_H
#define POSTERN_COMPAT_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#if !HAVE_ARC4RANDOM_BUF
void		 arc4random_buf(void *, size_t);
#endif
#if !HAVE_EXPLICIT_BZERO
void		 explicit_bzero(void *, size_t);
#endif
#if !HAVE_FREEZERO
void		 freezero(void *, size_t);
#endif
#if !HAVE_GETPROGNAME
const char	*getprogname(void);
#endif
#if !HAVE_REALLOCARRAY
void		*reallocarray(void *, size_t, size_t);
#endif
#if !HAVE_SETRESGID
int		 setresgid(gid_t, gid_t, gid_t);
#endif
#if !HAVE_STRLCAT
size_t		 strlcat(char *, const char *, size_t);
#endif
#if !HAVE_STRLCPY
size_t		 strlcpy(char *, const char *, size_t);
#endif
#if !HAVE_STRTONUM
long long	 strtonum(const char *, long long, long long, const char **);
#endif

#endif
