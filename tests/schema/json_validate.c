/* json_validate.c: checks a JSON document against a JSON Schema (draft
 * 2020-12), for the keywords doc/stats.schema.json uses, so the test of the
 * statistics needs nothing but a C compiler (python3's jsonschema, when
 * present, checks the same files as well: tests/schema/stats-schema.sh).
 *
 *   json_validate SCHEMA DOCUMENT
 *
 * Exit 0: valid; 1: invalid (each violation printed as "JSON-pointer:
 * what", at most 20); 2: a file cannot be read or parsed, or the schema
 * uses a keyword this validator does not implement (so a schema cannot
 * silently ask for more than is checked).
 *
 * Keywords: type (a name or a list; "integer" is a number with no
 * fraction), enum, const, properties, required, additionalProperties
 * (false or a schema), propertyNames, items, minItems, minimum, maximum,
 * pattern (POSIX extended regular expressions, searched as JSON Schema
 * does; the schema keeps to the common subset), $ref to "#/$defs/NAME",
 * and the annotations $schema, $id, $comment, $defs, title, description.
 */
#include "../../tools/json.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const jval_t *root_schema;
static int nerrors;
static bool schema_bad;

static void violation(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(const char *where, const char *fmt, ...)
{
    if (++nerrors <= 20) {
        va_list ap;
        va_start(ap, fmt);
        printf("%s: ", *where ? where : "(document)");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

static void schema_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void schema_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "json_validate: the schema ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    schema_bad = true;
}

/* Reports a fault of the schema and returns from check(). */
#define SCHEMA_FAIL(...)                                                     \
    do {                                                                     \
        schema_error(__VA_ARGS__);                                           \
        return;                                                              \
    } while (0)

static bool equal(const jval_t *a, const jval_t *b)
{
    if (a->t != b->t)
        return false;
    switch (a->t) {
    case J_NULL:
        return true;
    case J_BOOL:
        return a->b == b->b;
    case J_NUM:
        return a->num == b->num;
    case J_STR:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case J_ARR:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (!equal(a->items[i], b->items[i]))
                return false;
        return true;
    case J_OBJ:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            const jval_t *o = json_get(b, a->keys[i]);
            if (o == NULL || !equal(a->items[i], o))
                return false;
        }
        return true;
    }
    return false;
}

static bool has_type(const jval_t *v, const char *name)
{
    if (strcmp(name, "integer") == 0)
        return v->t == J_NUM && v->num == floor(v->num);
    return strcmp(name, json_type_name(v->t)) == 0;
}

static const char *const known[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties",
    "propertyNames", "items", "minItems", "minimum", "maximum", "pattern", "$ref",
    "$schema", "$id", "$comment", "$defs", "title", "description",
};

static void check(const jval_t *s, const jval_t *v, const char *where);

static void check_child(const jval_t *s, const jval_t *v, const char *where, const char *seg)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", where, seg);
    check(s, v, path);
}

static void check_object(const jval_t *s, const jval_t *v, const char *where)
{
    const jval_t *props = json_get(s, "properties");
    const jval_t *addl = json_get(s, "additionalProperties");
    const jval_t *names = json_get(s, "propertyNames");
    const jval_t *req = json_get(s, "required");
    for (size_t i = 0; req && i < req->n; i++)
        if (req->items[i]->t == J_STR && json_get(v, req->items[i]->str) == NULL)
            violation(where, "lacks the required member \"%s\"", req->items[i]->str);
    for (size_t i = 0; i < v->n; i++) {
        const jval_t *ps = json_get(props, v->keys[i]);
        if (names != NULL) {
            jval_t key = {.t = J_STR, .str = v->keys[i], .len = strlen(v->keys[i])};
            char path[1024];
            snprintf(path, sizeof path, "%s (member name \"%s\")", where, v->keys[i]);
            check(names, &key, path);
        }
        if (ps != NULL)
            check_child(ps, v->items[i], where, v->keys[i]);
        else if (addl != NULL && addl->t == J_BOOL && !addl->b)
            violation(where, "has the member \"%s\", which the schema does not allow",
                      v->keys[i]);
        else if (addl != NULL && addl->t == J_OBJ)
            check_child(addl, v->items[i], where, v->keys[i]);
    }
}

static void check(const jval_t *s, const jval_t *v, const char *where)
{
    if (s->t == J_BOOL) {
        if (!s->b)
            violation(where, "is not allowed here");
        return;
    }
    if (s->t != J_OBJ)
        SCHEMA_FAIL("has a subschema that is neither an object nor a boolean");
    for (size_t i = 0; i < s->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strcmp(s->keys[i], known[k]) == 0;
        if (!ok)
            schema_error("uses the keyword \"%s\", which this validator does not implement",
                         s->keys[i]);
    }
    const jval_t *x;
    if ((x = json_get(s, "$ref")) != NULL) {
        const char *ref = json_str(x, "");
        const jval_t *target = strncmp(ref, "#/$defs/", 8) == 0
                                   ? json_get(json_get(root_schema, "$defs"), ref + 8)
                                   : NULL;
        if (target == NULL)
            SCHEMA_FAIL("has an unresolvable $ref \"%s\"", ref);
        check(target, v, where);
    }
    if ((x = json_get(s, "type")) != NULL) {
        bool ok = false;
        if (x->t == J_STR)
            ok = has_type(v, x->str);
        for (size_t i = 0; x->t == J_ARR && i < x->n; i++)
            ok |= x->items[i]->t == J_STR && has_type(v, x->items[i]->str);
        if (!ok) {
            violation(where, "is a %s, not of the type the schema asks for",
                      json_type_name(v->t));
            return;
        }
    }
    if ((x = json_get(s, "const")) != NULL && !equal(x, v))
        violation(where, "is not the constant the schema asks for");
    if ((x = json_get(s, "enum")) != NULL) {
        bool ok = false;
        for (size_t i = 0; x->t == J_ARR && i < x->n; i++)
            ok |= equal(x->items[i], v);
        if (!ok)
            violation(where, "is %s, not one of the values the schema lists",
                      v->t == J_STR ? v->str : json_type_name(v->t));
    }
    if (v->t == J_NUM) {
        char num[64];
        snprintf(num, sizeof num, "%.17g", v->num);
        if ((x = json_get(s, "minimum")) != NULL && v->num < json_num(x, 0))
            violation(where, "is %s, below the minimum", num);
        if ((x = json_get(s, "maximum")) != NULL && v->num > json_num(x, 0))
            violation(where, "is %s, above the maximum", num);
    }
    if (v->t == J_STR && (x = json_get(s, "pattern")) != NULL) {
        regex_t re;
        if (regcomp(&re, json_str(x, ""), REG_EXTENDED | REG_NOSUB) != 0)
            SCHEMA_FAIL("has a pattern POSIX cannot compile: %s", json_str(x, ""));
        if (regexec(&re, v->str, 0, NULL, 0) != 0)
            violation(where, "is \"%s\", which does not match %s", v->str, json_str(x, ""));
        regfree(&re);
    }
    if (v->t == J_ARR) {
        if ((x = json_get(s, "minItems")) != NULL && (double)v->n < json_num(x, 0))
            violation(where, "has fewer items than the schema asks for");
        if ((x = json_get(s, "items")) != NULL)
            for (size_t i = 0; i < v->n; i++) {
                char seg[32];
                snprintf(seg, sizeof seg, "%zu", i);
                check_child(x, v->items[i], where, seg);
            }
    }
    if (v->t == J_OBJ)
        check_object(s, v, where);
}

int main(int argc, char **argv)
{
    char err[256];
    if (argc != 3) {
        fprintf(stderr, "usage: json_validate SCHEMA DOCUMENT\n");
        return 2;
    }
    jval_t *schema = json_parse_file(argv[1], err, sizeof err);
    if (schema == NULL) {
        fprintf(stderr, "json_validate: %s: %s\n", argv[1], err);
        return 2;
    }
    jval_t *doc = json_parse_file(argv[2], err, sizeof err);
    if (doc == NULL) {
        fprintf(stderr, "json_validate: %s: %s\n", argv[2], err);
        json_free(schema);
        return 2;
    }
    root_schema = schema;
    check(schema, doc, "");
    json_free(doc);
    json_free(schema);
    if (schema_bad)
        return 2;
    if (nerrors > 20)
        printf("... %d violations in all\n", nerrors);
    return nerrors ? 1 : 0;
}
