/*
 * The aliases file (the msmtp key "aliases"), in /etc/aliases syntax:
 * "name: target, target", a line that starts with white space continues
 * the one before, "#" starts a comment line, and "default:" catches every
 * local name that has no entry of its own.  Names match without regard
 * to case; expansion is recursive with loop detection.
 *
 * postern never delivers locally, so the targets that would need a local
 * delivery agent (":include:FILE", "|command", "/file") are refused: the
 * file may hold them (a shared /etc/aliases often does), but newaliases
 * (-bi) reports each one and fails, and a recipient whose expansion
 * reaches one is a configuration error.  Nothing here ever runs a
 * command.  Errors are ERR_CONFIG ("file:line: reason").
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define ALIAS_DEPTH	32	/* nesting, like sendmail's MAXRCRSN */
#define ALIAS_MAXOUT	1000	/* addresses one recipient may become */
#define ALIAS_MAXSTEPS	100000	/* lookups per recipient */

static const char *const kindname[] = {
	"an address", "a local name", ":include:", "a command", "a file"
};

static void
entry_free(struct alias *a)
{
	size_t	i;

	for (i = 0; i < a->ntarget; i++)
		free(a->target[i].text);
	free(a->target);
	free(a->name);
}

void
alias_free(struct aliases *al)
{
	size_t	i;

	for (i = 0; i < al->n; i++)
		entry_free(&al->v[i]);
	free(al->v);
	free(al->file);
	memset(al, 0, sizeof(*al));
}

static const struct alias *
lookup(const struct aliases *al, const char *name)
{
	size_t	i;

	for (i = 0; i < al->n; i++)
		if (strcasecmp(al->v[i].name, name) == 0)
			return &al->v[i];
	return NULL;
}

/* What a target is; an address must pass the checks of an argument. */
static int
classify(char *t, enum alias_kind *kind, const char *file, size_t ln,
    struct err *e)
{
	size_t	 n = strlen(t);

	if (n >= 2 && t[0] == '"' && t[n - 1] == '"' &&
	    (t[1] == '|' || t[1] == '/')) {
		memmove(t, t + 1, n - 2);
		t[n - 2] = '\0';
	}
	if (strncasecmp(t, ":include:", 9) == 0)
		*kind = ALIAS_INCLUDE;
	else if (t[0] == '|')
		*kind = ALIAS_PIPE;
	else if (t[0] == '/')
		*kind = ALIAS_FILE;
	else {
		if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
			memmove(t, t + 1, n - 2);
			t[n - 2] = '\0';
		}
		if (addr_valid_arg(t, e) == -1) {
			char why[ERR_MSGLEN];

			(void)strlcpy(why, e->msg, sizeof(why));
			return err_set(e, ERR_CONFIG, "%s:%zu: %s", file, ln,
			    why);
		}
		*kind = strchr(t, '@') != NULL ? ALIAS_ADDR : ALIAS_LOCAL;
	}
	return 0;
}

/* Split the targets at commas outside double quotes. */
static int
add_targets(struct alias *a, char *s, const char *file, size_t ln,
    struct err *e)
{
	char	*t, *end;
	int	 q;

	while (*s != '\0') {
		for (t = s, q = 0; *s != '\0' && (q || *s != ','); s++)
			if (*s == '"')
				q = !q;
		if (*s == ',')
			*s++ = '\0';
		t += strspn(t, " \t");
		for (end = t + strlen(t); end > t && (end[-1] == ' ' ||
		    end[-1] == '\t'); )
			*--end = '\0';
		if (*t == '\0')
			continue;
		a->target = xreallocarray(a->target, a->ntarget + 1,
		    sizeof(*a->target));
		a->target[a->ntarget].text = xstrdup(t);
		a->target[a->ntarget].line = ln;
		if (classify(a->target[a->ntarget].text,
		    &a->target[a->ntarget].kind, file, ln, e) == -1) {
			free(a->target[a->ntarget].text);
			return -1;
		}
		a->ntarget++;
	}
	return 0;
}

/* One logical line (continuations joined): "name: targets". */
static int
entry(struct aliases *al, char *line, const char *file, size_t ln,
    struct err *e)
{
	struct alias	*a;
	char		*colon, *p;

	if ((colon = strchr(line, ':')) == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: expected 'name: "
		    "address, ...'", file, ln);
	*colon = '\0';
	for (p = colon; p > line && (p[-1] == ' ' || p[-1] == '\t'); )
		*--p = '\0';
	if (*line == '\0' || line[strcspn(line, " \t@\"")] != '\0')
		return err_set(e, ERR_CONFIG, "%s:%zu: invalid alias name "
		    "'%s'", file, ln, line);
	if (lookup(al, line) != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: alias '%s' is "
		    "defined twice", file, ln, line);
	al->v = xreallocarray(al->v, al->n + 1, sizeof(*al->v));
	a = &al->v[al->n];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(line);
	a->line = ln;
	if (add_targets(a, colon + 1, file, ln, e) == -1) {
		entry_free(a);
		return -1;
	}
	al->n++;
	if (a->ntarget == 0)
		return err_set(e, ERR_CONFIG, "%s:%zu: alias '%s' has no "
		    "target", file, ln, a->name);
	return 0;
}

/* Append s to the logical line being built. */
static void
join(char **buf, size_t *len, const char *s)
{
	size_t	n = strlen(s);

	*buf = xreallocarray(*buf, *len + n + 2, 1);
	if (*len > 0)
		(*buf)[(*len)++] = ' ';
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

int
alias_parse(struct aliases *al, const char *file, FILE *fp, struct err *e)
{
	char	*line = NULL, *cur = NULL;
	size_t	 cap = 0, curlen = 0, ln = 0, start = 0;
	ssize_t	 len;
	int	 rc = 0;

	memset(al, 0, sizeof(*al));
	al->file = xstrdup(file);
	while (rc == 0 && (len = getline(&line, &cap, fp)) != -1) {
		ln++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (memchr(line, '\0', (size_t)len) != NULL ||
		    strchr(line, '\r') != NULL) {
			rc = err_set(e, ERR_CONFIG, "%s:%zu: NUL or carriage "
			    "return in line", file, ln);
			break;
		}
		if (line[0] == '#')
			continue;
		if (line[0] == ' ' || line[0] == '\t') {
			if (line[strspn(line, " \t")] == '\0')
				continue;
			if (cur == NULL) {
				rc = err_set(e, ERR_CONFIG, "%s:%zu: "
				    "continuation line without an alias",
				    file, ln);
				break;
			}
			join(&cur, &curlen, line + strspn(line, " \t"));
			continue;
		}
		if (cur != NULL)
			rc = entry(al, cur, file, start, e);
		free(cur);
		cur = NULL;
		curlen = 0;
		if (rc == 0 && line[0] != '\0') {
			start = ln;
			join(&cur, &curlen, line);
		}
	}
	if (rc == 0 && cur != NULL)
		rc = entry(al, cur, file, start, e);
	if (rc == 0 && ferror(fp))
		rc = err_set(e, ERR_CONFIG, "%s: %s", file, strerror(errno));
	free(cur);
	free(line);
	if (rc == -1)
		alias_free(al);
	return rc;
}

/* Read the aliases file, with the caller's own rights. */
int
alias_load(struct aliases *al, const char *path, struct err *e)
{
	FILE	*fp;
	int	 rc;

	memset(al, 0, sizeof(*al));
	if ((fp = fopen(path, "r")) == NULL)
		return err_set(e, ERR_CONFIG, "aliases: %s: %s", path,
		    strerror(errno));
	rc = alias_parse(al, path, fp, e);
	fclose(fp);
	return rc;
}

/*
 * newaliases: every target that postern refuses, one warning each.
 * Returns how many there were.
 */
size_t
alias_check(const struct aliases *al, void (*warn)(const char *, ...))
{
	size_t	i, k, bad = 0;

	for (i = 0; i < al->n; i++)
		for (k = 0; k < al->v[i].ntarget; k++) {
			const struct alias_target *t = &al->v[i].target[k];

			if (t->kind < ALIAS_INCLUDE)
				continue;
			warn("%s:%zu: alias '%s': %s target '%s' is refused: "
			    "postern never delivers locally", al->file,
			    t->line, al->v[i].name, kindname[t->kind],
			    t->text);
			bad++;
		}
	return bad;
}

struct expand {
	const struct aliases	*al;
	const char		*domain;
	const char		*stack[ALIAS_DEPTH];
	size_t			 depth;
	size_t			 steps;
	char			**out;
	size_t			 nout;
};

static int
add_out(struct expand *x, const char *a, struct err *e)
{
	char	*q;
	size_t	 i;

	q = addr_qualify(a, x->domain);
	for (i = 0; i < x->nout; i++)
		if (addr_same(x->out[i], q)) {
			free(q);
			return 0;
		}
	if (x->nout == ALIAS_MAXOUT) {
		free(q);
		return err_set(e, ERR_CONFIG, "%s: an alias expands to more "
		    "than %d addresses", x->al->file, ALIAS_MAXOUT);
	}
	x->out = xreallocarray(x->out, x->nout + 1, sizeof(*x->out));
	x->out[x->nout++] = q;
	return 0;
}

static int
on_stack(const struct expand *x, const char *name)
{
	size_t	i;

	for (i = 0; i < x->depth; i++)
		if (strcasecmp(x->stack[i], name) == 0)
			return 1;
	return 0;
}

/*
 * A local name: its entry, else the "default" entry, else the name
 * qualified.  A name that is already being expanded stands for itself
 * ("root: root, admin@example.org" keeps root), which is also what ends
 * a loop.
 */
static int
expand(struct expand *x, const char *name, struct err *e)
{
	const struct alias	*a;
	size_t			 k, depth = x->depth;

	if (++x->steps > ALIAS_MAXSTEPS)
		return err_set(e, ERR_CONFIG, "%s: alias expansion of too "
		    "many steps", x->al->file);
	if (on_stack(x, name))
		return add_out(x, name, e);
	if ((a = lookup(x->al, name)) == NULL &&
	    ((a = lookup(x->al, "default")) == NULL || on_stack(x, "default")))
		return add_out(x, name, e);
	if (x->depth == ALIAS_DEPTH)
		return err_set(e, ERR_CONFIG, "%s:%zu: aliases nested more "
		    "than %d deep", x->al->file, a->line, ALIAS_DEPTH);
	x->stack[x->depth++] = a->name;
	if (strcasecmp(a->name, name) != 0 && x->depth < ALIAS_DEPTH)
		x->stack[x->depth++] = name;	/* reached through default */
	for (k = 0; k < a->ntarget; k++) {
		const struct alias_target *t = &a->target[k];
		int rc;

		if (t->kind >= ALIAS_INCLUDE)
			return err_set(e, ERR_CONFIG, "%s:%zu: alias '%s': "
			    "%s target '%s' is refused: postern never "
			    "delivers locally", x->al->file, t->line, a->name,
			    kindname[t->kind], t->text);
		rc = t->kind == ALIAS_ADDR ? add_out(x, t->text, e) :
		    expand(x, t->text, e);
		if (rc == -1)
			return -1;
	}
	x->depth = depth;
	return 0;
}

/*
 * The addresses a recipient stands for.  Only a bare local name (no "@")
 * is looked up; every local name that comes out is qualified with
 * domain.  *out is an array of *nout strings for the caller to free.
 */
int
alias_expand(const struct aliases *al, const char *rcpt, const char *domain,
    char ***out, size_t *nout, struct err *e)
{
	struct expand	x;
	size_t		i;
	int		rc;

	memset(&x, 0, sizeof(x));
	x.al = al;
	x.domain = domain;
	if (strchr(rcpt, '@') != NULL || al == NULL)
		rc = add_out(&x, rcpt, e);
	else
		rc = expand(&x, rcpt, e);
	if (rc == -1) {
		for (i = 0; i < x.nout; i++)
			free(x.out[i]);
		free(x.out);
		*out = NULL;
		*nout = 0;
		return -1;
	}
	*out = x.out;
	*nout = x.nout;
	return 0;
}
