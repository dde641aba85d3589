/*
 * The canary: a deliberate heap overflow and a leak.  It is built by
 * every variant of "make check"; under SANITIZE=1 AddressSanitizer and
 * under VALGRIND=1 memcheck must catch it, which proves that the checking
 * variant is really active.  It is never part of postern.
 */
#include <stdlib.h>
#include <string.h>

int
main(int argc, char *argv[])
{
	char	*p;

	(void)argv;
	p = malloc(8);
	if (p == NULL)
		return 2;
	/* argc keeps the compiler from proving the overflow at build time. */
	memset(p, 'x', 8 + (size_t)argc);
	p = NULL;	/* and leak it */
	return 0;
}
