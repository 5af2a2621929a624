/* json.h: a small strict JSON reader for the tools (graphshim report, the
 * schema validator of the tests). RFC 8259: no trailing commas, no
 * comments, strings checked for escapes and control characters, nesting
 * bounded. The whole document becomes a tree of jval_t; the tools read
 * files of a few megabytes at most, so simplicity wins over speed.
 */
#ifndef GS_TOOLS_JSON_H
#define GS_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jval jval_t;
struct jval {
    jtype_t t;
    bool b;         /* J_BOOL */
    bool integral;  /* J_NUM written without fraction or exponent */
    double num;     /* J_NUM */
    char *str;      /* J_STR (NUL-terminated; may hold \0 escapes: see len) */
    size_t len;     /* J_STR bytes */
    size_t n;       /* J_ARR items, J_OBJ members */
    jval_t **items; /* J_ARR, J_OBJ values */
    char **keys;    /* J_OBJ keys */
};

/* Parses text[0..len); NULL on error, with "line L, column C: what" in err. */
jval_t *json_parse(const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses a file; NULL on error (err says why). */
jval_t *json_parse_file(const char *path, char *err, size_t errlen);
void json_free(jval_t *v);

/* The member `key` of an object; NULL if v is no object or lacks it. */
const jval_t *json_get(const jval_t *v, const char *key);
/* Follows a dotted path of member names ("totals.ops"); NULL if absent. */
const jval_t *json_path(const jval_t *v, const char *path);
/* The number at v, or dflt when v is absent or no number. */
double json_num(const jval_t *v, double dflt);
/* The string at v, or dflt. */
const char *json_str(const jval_t *v, const char *dflt);
const char *json_type_name(jtype_t t);

#endif /* GS_TOOLS_JSON_H */
