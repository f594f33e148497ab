/* The child marker: where the guard looks for it (main's argv, then what the OS keeps) and its
 * syntax, "--mproc-child=<in>,<out>,<extra><tail>". The backends write it, and check and adopt
 * the handles it names (mproc__os_marker_take); the scan is here, once. */
#include "marker.h"

#include <string.h>

#define MARKER "--mproc-child="
/* Room for any marker either backend writes; a longer text is not one. */
#define MARKER_MAX 128

/* A decimal handle value: "-1", or digits without sign or leading zero, at most INTPTR_MAX.
 * Returns the position after it, or NULL. */
static const char *parse_value(const char *s, intptr_t *out)
{
    intptr_t v = 0;

    if (s[0] == '-') {
        if (s[1] != '1')
            return NULL;
        *out = -1;
        return s + 2;
    }
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return NULL;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (v > (INTPTR_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return s;
}

int mproc__marker_parse(const char *s, mproc__marker *m)
{
    if (strncmp(s, MARKER, sizeof MARKER - 1) != 0)
        return 0;
    s = parse_value(s + sizeof MARKER - 1, &m->in);
    if (s == NULL || *s++ != ',')
        return 0;
    if ((s = parse_value(s, &m->out)) == NULL || *s++ != ',')
        return 0;
    if ((s = parse_value(s, &m->extra)) == NULL)
        return 0;
    m->tail = s;
    return 1;
}

/* The i-th place to look: argv[1], then each of the backend's. 1 with the text in buf, 0 when
 * that place has none, -1 past the last place. */
static int source(int i, int argc, char **argv, char *buf, size_t cap)
{
    if (i > 0)
        return mproc__os_marker_text(i - 1, buf, cap);
    if (argc < 2 || argv == NULL || argv[1] == NULL)
        return 0;
    if (strlen(argv[1]) >= cap)
        return strncmp(argv[1], MARKER, sizeof MARKER - 1) == 0 ? 2 : 0;
    memcpy(buf, argv[1], strlen(argv[1]) + 1);
    return 1;
}

int mproc__marker_child_args(int argc, char **argv, mproc__handle *in, mproc__handle *out,
                             mproc__handle *extra)
{
    char text[MARKER_MAX];
    mproc__marker m;
    int i, r;

    for (i = 0; (r = source(i, argc, argv, text, sizeof text)) >= 0; i++)
        if (r == 1 && mproc__marker_parse(text, &m) && mproc__os_marker_take(&m, in, out, extra))
            return 1;
    return 0;
}

int mproc__marker_present(int argc, char **argv)
{
    char text[MARKER_MAX];
    int i, r;

    for (i = 0; (r = source(i, argc, argv, text, sizeof text)) >= 0; i++)
        if (r == 2 || (r == 1 && strncmp(text, MARKER, sizeof MARKER - 1) == 0))
            return 1;
    return 0;
}
