/*
 * configure's probe for dlopen(3), which src/curlso.c uses to load
 * libcurl: in libc (glibc 2.34 and later) or in -ldl.  Not a compat
 * replacement.
 */
#include <dlfcn.h>
#include <stddef.h>

int
main(void)
{
	void	*h;

	if ((h = dlopen(NULL, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return 1;
	return dlsym(h, "main") == (void *)-1;
}
