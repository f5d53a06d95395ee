/* pbtxt.h — a schemaless reader for protobuf text format, the language of MediaPipe graph files
 * (OVMS's graph.pbtxt).
 *
 * The reader turns text into a tree of fields without knowing any .proto: each message is a list
 * of fields in file order; a field has a name and one value (a nested message, a string, a number
 * or a bare word). Interpreting the tree (which fields exist, their types) is the caller's job;
 * the typed getters below check a value and report problems with the field's position.
 *
 * Accepted syntax (protobuf's text format):
 *
 *   message := { field [ "," | ";" ] }
 *   field   := name ":" scalar
 *            | name [ ":" ] ( "{" message "}" | "<" message ">" )
 *            | name ":" "[" [ element { "," element } ] "]"
 *   name    := identifier
 *            | "[" identifier { ( "." | "/" ) identifier } "]"   extension or Any type URL
 *   element := scalar | "{" message "}" | "<" message ">"
 *   scalar  := string { string }              adjacent strings are joined
 *            | [ "-" ] number | [ "-" ] ( "inf" | "infinity" | "nan" ) | identifier
 *   string  := '"' ... '"' | "'" ... "'"     escapes \a \b \f \n \r \t \v \\ \' \" \? \ooo \xhh
 *                                            \uhhhh \Uhhhhhhhh (Unicode, written as UTF-8)
 *   number  := decimal, 0x hex or 0 octal integer, or a float (1.5, .5, 1e-3, 2.0f)
 *   comment := "#" to the end of the line
 *
 * A list is shorthand for repeating the field: `a: [1, 2]` reads as `a: 1 a: 2`. Extension names
 * are stored without their brackets and with the spaces inside removed, so
 * `[type.googleapis.com / mediapipe.LLMCalculatorOptions]` is named
 * "type.googleapis.com/mediapipe.LLMCalculatorOptions" and has `extension` set.
 *
 * Errors are LM_ERR_FORMAT with "<source>:<line>:<col>: <what>" (line and column 1-based, the
 * column counted in bytes) and err->line/col set; inputs over the limits in base/limits.h give
 * LM_ERR_LIMIT. A parsed document is immutable: any number of threads may read it. */
#ifndef LM_REPO_PBTXT_H
#define LM_REPO_PBTXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum {
    PBTXT_MESSAGE, /* { ... } or < ... >; the root is a message too */
    PBTXT_STRING,  /* quoted string(s), unescaped and joined */
    PBTXT_NUMBER,  /* numeric literal as written, with its sign ("-12", "0x1f", "1.5f") */
    PBTXT_IDENT,   /* bare word as written: true, false, an enum value, -inf, nan */
} pbtxt_type;

typedef struct pbtxt_field pbtxt_field;
struct pbtxt_field {
    const char *name;         /* field name ("" for the root) */
    int extension;            /* 1 when the name was written in brackets */
    pbtxt_type type;
    const char *text;         /* STRING: the bytes (NUL-terminated; may also hold NULs inside,
                               * see len); NUMBER, IDENT: the literal; MESSAGE: NULL */
    size_t len;               /* bytes of text */
    const pbtxt_field *first; /* MESSAGE: its first field, NULL when empty */
    const pbtxt_field *next;  /* next field of the enclosing message, NULL at the end */
    const char *source;       /* name of the input, for messages (the document owns it) */
    int line, col;            /* where the field's name starts */
    int vline, vcol;          /* where its value starts */
};

typedef struct pbtxt_doc pbtxt_doc;

/* Parses `len` bytes of text. `source` names the input in error messages (a file path; copied).
 * On success *out owns every field; on failure *out is NULL and err says what and where. */
lm_status pbtxt_parse(const char *text, size_t len, const char *source, pbtxt_doc **out,
                      lm_error *err);

/* Reads and parses a file (source = path). LM_ERR_IO when it cannot be read; LM_ERR_LIMIT when
 * it is larger than LM_PBTXT_MAX_BYTES. */
lm_status pbtxt_parse_file(const char *path, pbtxt_doc **out, lm_error *err);

/* Frees the document and every field in it. Accepts NULL. */
void pbtxt_destroy(pbtxt_doc *doc);

/* The top-level message (type PBTXT_MESSAGE, name ""). */
const pbtxt_field *pbtxt_root(const pbtxt_doc *doc);

/* First field of message `msg` named `name`, or NULL. Exact, case-sensitive match; extension
 * fields match by their normalised name. */
const pbtxt_field *pbtxt_find(const pbtxt_field *msg, const char *name);

/* The next field after `f` in the same message with the same name as `f`, or NULL: iterates a
 * repeated field: `for (f = pbtxt_find(m, "node"); f; f = pbtxt_find_next(f))`. */
const pbtxt_field *pbtxt_find_next(const pbtxt_field *f);

/* Fields of `msg` named `name`. */
size_t pbtxt_count(const pbtxt_field *msg, const char *name);

/* ---- typed getters: each checks the value's form and, on a mismatch, fails with
 * LM_ERR_FORMAT "<source>:<line>:<col>: <name>: expected ..., found ..." at the value. ---- */

/* An integer literal (decimal, hex, octal; optional '-') in [min, max]. */
lm_status pbtxt_get_int(const pbtxt_field *f, int64_t min, int64_t max, int64_t *out,
                        lm_error *err);

/* Any number, or inf/infinity/nan (any case, optional '-'). A trailing f/F is allowed. */
lm_status pbtxt_get_double(const pbtxt_field *f, double *out, lm_error *err);

/* true/True/t or false/False/f, or the integers 1 and 0 (as protobuf accepts). */
lm_status pbtxt_get_bool(const pbtxt_field *f, int *out, lm_error *err);

/* A string without NUL bytes inside; *out points into the document. */
lm_status pbtxt_get_string(const pbtxt_field *f, const char **out, lm_error *err);

/* A bare identifier that is not a number (an enum value name); *out points into the document. */
lm_status pbtxt_get_ident(const pbtxt_field *f, const char **out, lm_error *err);

/* A message; *out is the field itself, for symmetry with the other getters. */
lm_status pbtxt_get_message(const pbtxt_field *f, const pbtxt_field **out, lm_error *err);

/* Records an error at field f's value in the getters' format; for checks made by callers
 * ("max_num_seqs must be positive"). Returns code (or the error already recorded). */
lm_status pbtxt_error_at(lm_error *err, lm_status code, const pbtxt_field *f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Short name of a value's form for messages: "a message", "a string", "a number", "an
 * identifier". */
const char *pbtxt_type_name(pbtxt_type type);

#endif
