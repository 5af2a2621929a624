/* json.c: the strict JSON reader of json.h, a recursive descent over the
 * text with a depth bound. Errors carry the line and column where the
 * reader stopped, since a person reads them.
 */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
    const char *p, *end, *start;
    char *err;
    size_t errlen;
    bool failed;
} reader_t;

static void fail(reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(reader_t *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    unsigned line = 1, col = 1;
    for (const char *q = r->start; q < r->p; q++) {
        if (*q == '\n')
            line++, col = 1;
        else
            col++;
    }
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "line %u, column %u: %s", line, col, what);
}

/* Fails and returns from a function of no value. */
#define FAILRET(...)                                                         \
    do {                                                                     \
        fail(__VA_ARGS__);                                                   \
        return;                                                              \
    } while (0)

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void skip_ws(reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool literal(reader_t *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static int hex4(reader_t *r)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        if (r->p >= r->end) {
            fail(r, "unfinished \\u escape");
            return -1;
        }
        char c = *r->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else {
            fail(r, "bad hex digit in \\u escape");
            return -1;
        }
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reads a string at r->p (just after the opening quote). */
static char *string(reader_t *r, size_t *len)
{
    /* Unescaped, the string is never longer than its source. */
    const char *q = r->p;
    while (q < r->end && *q != '"')
        q += *q == '\\' && q + 1 < r->end ? 2 : 1;
    char *out = xcalloc((size_t)(q - r->p) + 1, 1), *o = out;
    while (!r->failed) {
        if (r->p >= r->end) {
            fail(r, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"')
            break;
        if (c < 0x20) {
            fail(r, "control character in a string");
            break;
        }
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (r->p >= r->end) {
            fail(r, "unterminated escape");
            break;
        }
        char e = *r->p++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = strchr(from, e);
        if (e != '\0' && k != NULL) {
            *o++ = to[k - from];
            continue;
        }
        if (e != 'u') {
            fail(r, "bad escape \\%c", e);
            break;
        }
        int cp = hex4(r);
        if (cp < 0)
            break;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (!literal(r, "\\u")) {
                fail(r, "lone high surrogate");
                break;
            }
            int lo = hex4(r);
            if (lo < 0xdc00 || lo >= 0xe000) {
                fail(r, "bad low surrogate");
                break;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
            fail(r, "lone low surrogate");
            break;
        }
        o += put_utf8(o, (unsigned)cp);
    }
    *len = (size_t)(o - out);
    *o = '\0';
    return out;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static void number(reader_t *r, jval_t *v)
{
    const char *s = r->p;
    bool integral = true;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p < r->end && *r->p == '0')
        r->p++;
    else if (r->p < r->end && is_digit(*r->p))
        while (r->p < r->end && is_digit(*r->p))
            r->p++;
    else
        FAILRET(r, "bad number");
    if (r->p < r->end && *r->p == '.') {
        integral = false;
        r->p++;
        if (r->p >= r->end || !is_digit(*r->p))
            FAILRET(r, "bad number: no digit after the point");
        while (r->p < r->end && is_digit(*r->p))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        integral = false;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (r->p >= r->end || !is_digit(*r->p))
            FAILRET(r, "bad number: no digit in the exponent");
        while (r->p < r->end && is_digit(*r->p))
            r->p++;
    }
    char buf[64];
    size_t n = (size_t)(r->p - s);
    if (n >= sizeof buf)
        n = sizeof buf - 1; /* digits beyond a double's precision */
    memcpy(buf, s, n);
    buf[n] = '\0';
    v->t = J_NUM;
    v->integral = integral;
    v->num = strtod(buf, NULL);
}

static jval_t *value(reader_t *r, int depth);

static void container(reader_t *r, jval_t *v, int depth, bool obj)
{
    size_t cap = 8;
    v->t = obj ? J_OBJ : J_ARR;
    v->items = xcalloc(cap, sizeof *v->items);
    if (obj)
        v->keys = xcalloc(cap, sizeof *v->keys);
    skip_ws(r);
    if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
        r->p++;
        return;
    }
    while (!r->failed) {
        char *key = NULL;
        if (obj) {
            skip_ws(r);
            if (r->p >= r->end || *r->p != '"')
                FAILRET(r, "expected a member name");
            r->p++;
            size_t klen;
            key = string(r, &klen);
            skip_ws(r);
            if (r->failed || r->p >= r->end || *r->p != ':') {
                free(key);
                FAILRET(r, "expected ':' after a member name");
            }
            r->p++;
        }
        jval_t *item = value(r, depth + 1);
        if (v->n == cap) {
            cap *= 2;
            v->items = realloc(v->items, cap * sizeof *v->items);
            if (obj)
                v->keys = realloc(v->keys, cap * sizeof *v->keys);
            if (v->items == NULL || (obj && v->keys == NULL)) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
        }
        v->items[v->n] = item;
        if (obj)
            v->keys[v->n] = key;
        v->n++;
        if (r->failed)
            return;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
            r->p++;
            return;
        }
        FAILRET(r, "expected ',' or '%c'", obj ? '}' : ']');
    }
}

static jval_t *value(reader_t *r, int depth)
{
    jval_t *v = xcalloc(1, sizeof *v);
    skip_ws(r);
    if (depth > MAX_DEPTH) {
        fail(r, "nested deeper than %d", MAX_DEPTH);
        return v;
    }
    if (r->p >= r->end) {
        fail(r, "unexpected end of the document");
        return v;
    }
    char c = *r->p;
    if (c == '{' || c == '[') {
        r->p++;
        container(r, v, depth, c == '{');
    } else if (c == '"') {
        r->p++;
        v->t = J_STR;
        v->str = string(r, &v->len);
    } else if (c == '-' || is_digit(c)) {
        number(r, v);
    } else if (literal(r, "true")) {
        v->t = J_BOOL, v->b = true;
    } else if (literal(r, "false")) {
        v->t = J_BOOL;
    } else if (literal(r, "null")) {
        v->t = J_NULL;
    } else {
        fail(r, "unexpected character '%c'", c);
    }
    return v;
}

jval_t *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    reader_t r = {.p = text, .end = text + len, .start = text, .err = err,
                  .errlen = errlen};
    jval_t *v = value(&r, 0);
    skip_ws(&r);
    if (!r.failed && r.p != r.end)
        fail(&r, "text after the document");
    if (r.failed) {
        json_free(v);
        return NULL;
    }
    return v;
}

jval_t *json_parse_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open it: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xcalloc(cap, 1);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "cannot read it");
        return NULL;
    }
    jval_t *v = json_parse(buf, n, err, errlen);
    free(buf);
    return v;
}

void json_free(jval_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const jval_t *json_get(const jval_t *v, const char *key)
{
    if (v == NULL || v->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const jval_t *json_path(const jval_t *v, const char *path)
{
    char part[128];
    while (v != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        v = json_get(v, part);
        path += n + (dot != NULL);
    }
    return v;
}

double json_num(const jval_t *v, double dflt)
{
    return v != NULL && v->t == J_NUM ? v->num : dflt;
}

const char *json_str(const jval_t *v, const char *dflt)
{
    return v != NULL && v->t == J_STR ? v->str : dflt;
}

const char *json_type_name(jtype_t t)
{
    static const char *const n[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < 6 ? n[t] : "?";
}
