/* grammar.h — structured output: a JSON Schema compiled into a matcher that says, before each
 * sampling step, which tokens of the vocabulary may come next (so the output always parses and
 * validates), and follows the tokens actually chosen.
 *
 *   grammar_compile(schema)        once per request (or grammar_any_object for json_object)
 *   gmatch_init(&m, g)             per generated sequence
 *   loop: gmatch_mask(&m, vocab, scratch, allowed) -> the sampler only picks allowed tokens
 *         gmatch_accept(&m, vocab, id)     -> the chosen token
 *   gmatch_done(&m)                the value is complete (EOS is then the only allowed token)
 *
 * Supported JSON Schema: type (string, number, integer, boolean, null, object, array, and
 * arrays of types), properties / required, additionalProperties (false, true or a schema),
 * enum / const, items / minItems / maxItems, anyOf / oneOf, $ref to #/$defs/... or
 * #/definitions/... (recursion allowed), minLength / maxLength, minimum / maximum /
 * exclusiveMinimum / exclusiveMaximum, nullable; annotations (title, description, default,
 * examples, format, $schema, $id, $comment, deprecated, readOnly, writeOnly) are ignored. Any other
 * keyword is refused (LM_ERR_UNSUPPORTED naming it and where): never silently unconstrained.
 *
 * What the matcher lets the model write is a subset of what the schema accepts, chosen so that
 * a model cannot wander off: object members come in the schema's `properties` order (optional
 * ones may be left out; extra members are not generated), JSON whitespace is at most one space
 * after ':' and ',', numbers have at most 15 integer and 15 fraction digits (no exponent when a
 * bound is given), and oneOf is treated as anyOf (alternatives are expected to be disjoint).
 *
 * Threads: a grammar and a grammar_vocab are immutable once built (share them); a gmatch
 * belongs to one sequence. */
#ifndef LM_SERVING_GRAMMAR_H
#define LM_SERVING_GRAMMAR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

typedef struct grammar grammar;

/* Compiles a JSON Schema. LM_ERR_UNSUPPORTED for a keyword outside the list above and
 * LM_ERR_INVALID for a malformed schema (a bad $ref, minLength > maxLength...), each naming the
 * keyword and its JSON pointer. */
lm_status grammar_compile(json_t *schema, grammar **out, lm_error *err);

/* response_format json_object: any JSON object. */
lm_status grammar_any_object(grammar **out, lm_error *err);

void grammar_destroy(grammar *g); /* accepts NULL */

/* The vocabulary seen as bytes, built once per tokenizer. */
typedef struct grammar_vocab grammar_vocab;

lm_status grammar_vocab_create(const tok_tokenizer *t, grammar_vocab **out, lm_error *err);
void grammar_vocab_destroy(grammar_vocab *v); /* accepts NULL */
int grammar_vocab_size(const grammar_vocab *v);

/* ---- matching ---------------------------------------------------------------------------- */

#define GMATCH_MAX_DEPTH 32    /* nesting of values (deeper ones are not generated) */
#define GMATCH_MAX_THREADS 8   /* alternatives followed at once (anyOf, type lists) */
#define GMATCH_DFS_DEPTH 24    /* token bytes whose states the mask keeps for prefix sharing */

typedef struct {
    int32_t node;
    uint8_t kind, phase, flag, utf8;
    int32_t count, idx;
    uint64_t cand;
    double v, f, fscale;
    int8_t neg;
    uint8_t ndig, nfrac;
} gframe;

typedef struct {
    int depth;                 /* 0: the value is complete */
    gframe f[GMATCH_MAX_DEPTH];
} gthread;

typedef struct {
    const grammar *g;
    int n;                     /* live threads; 0 = dead (a token outside the mask was accepted) */
    gthread t[GMATCH_MAX_THREADS];
} gmatch;

void gmatch_init(gmatch *m, const grammar *g);

/* Working memory of gmatch_mask (about 0.4 MiB): one per thread that computes masks. */
typedef struct gmatch_scratch gmatch_scratch;
gmatch_scratch *gmatch_scratch_create(void); /* NULL when out of memory */
void gmatch_scratch_destroy(gmatch_scratch *s); /* accepts NULL */

/* Sets allowed[id] to 1 for every token that may come next and 0 for the others (n_vocab
 * entries). End-of-generation ids are allowed exactly when the value is complete; other special
 * tokens never. */
void gmatch_mask(const gmatch *m, const grammar_vocab *v, gmatch_scratch *scratch, uint8_t *allowed);

/* Follows token id. Returns 0 (and the matcher is dead) when the token was not allowed. */
int gmatch_accept(gmatch *m, const grammar_vocab *v, int32_t id);

/* Follows raw text (tests, and the server checking a whole output). 0 when not allowed. */
int gmatch_accept_text(gmatch *m, const char *s, size_t n);

/* 1 when what was accepted is a complete value (nothing but end of generation may follow). */
int gmatch_done(const gmatch *m);

#endif
