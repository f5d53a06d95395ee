/* irxml.h — a small streaming (SAX-style) XML reader, enough for OpenVINO IR files, safe on
 * hostile input.
 *
 * What it reads: an optional UTF-8 BOM; processing instructions (<?xml ...?>) and comments
 * anywhere outside tags; exactly one root element; elements with attributes ("name='v'" or
 * name="v"), self-closing or with content; text and CDATA content (skipped: IR keeps everything
 * in attributes); the five named entities and numeric character references (&#38; &#x26;) in
 * attribute values, decoded to UTF-8. What it refuses (LM_ERR_FORMAT with the byte offset): a
 * DOCTYPE (entity definitions are how XML bombs work, and IR never has one), unknown entities,
 * mismatched or unclosed tags (a truncated file names the element left open), duplicate
 * attributes, '<' in an attribute value, text outside the root, a NUL byte. Limits from
 * base/limits.h: LM_IR_MAX_XML_BYTES, LM_IR_MAX_XML_DEPTH, LM_IR_MAX_XML_ATTRS (LM_ERR_LIMIT).
 *
 * The handler gets each start tag with its decoded attributes and each end tag (a self-closing
 * element gets both); the strings it receives are valid only during the call. A handler that
 * returns an error stops the parse with that error. Cost: one pass, memory O(longest tag). */
#ifndef LM_MODEL_IRXML_H
#define LM_MODEL_IRXML_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    const char *name;   /* NUL-terminated */
    const char *value;  /* NUL-terminated, entities decoded */
} irxml_attr;

typedef struct {
    /* depth 0 is the root element; `offset` is the byte offset of the '<' */
    lm_status (*start)(void *ctx, int depth, const char *name, const irxml_attr *attrs, int n_attrs,
                       int64_t offset, lm_error *err);
    lm_status (*end)(void *ctx, int depth, const char *name, lm_error *err);
} irxml_handler;

/* Parses `len` bytes of `text` (need not be NUL-terminated), calling `h` (either callback may be
 * NULL). Returns LM_OK after the root element closed and only comments, PIs and whitespace
 * followed. */
lm_status irxml_parse(const char *text, size_t len, const irxml_handler *h, void *ctx, lm_error *err);

/* The value of attribute `name` among attrs, or NULL. */
const char *irxml_attr_get(const irxml_attr *attrs, int n_attrs, const char *name);

#endif
