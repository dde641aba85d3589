/*
 * Addresses.  For now: the checks an envelope address from the command
 * line must pass before it can go into an SMTP command.
 */
#include "config.h"

#include <string.h>

#include "extern.h"

/*
 * An envelope address given as an argument: no control characters (so
 * no CR, LF or NUL can reach a command), no angle brackets, no white
 * space, and no leading "-" (it would read as an option).
 */
int
addr_valid_arg(const char *a, struct err *e)
{
	const unsigned char	*p;

	if (*a == '\0')
		return err_set(e, ERR_USAGE, "empty address");
	if (*a == '-')
		return err_set(e, ERR_USAGE, "address '%s' begins with '-'",
		    a);
	for (p = (const unsigned char *)a; *p != '\0'; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
			return err_set(e, ERR_USAGE, "invalid character "
			    "0x%02x in address '%.*s'", *p,
			    (int)strcspn(a, "\r\n"), a);
	return 0;
}
