/* jsonnum.h — JSON text whose integers do not fit int64, made readable by JSON parsers.
 *
 * Hugging Face writes model_max_length = 1000000000000000019884624838656 ("no limit") into the
 * tokenizer_config.json of every Llama 3 and Mistral folder; jansson refuses such an integer
 * ("too big integer") and the whole file with it. jsonnum_widen() rewrites every integer literal
 * outside strings whose value is outside int64 as a real (its digits plus ".0"; 1e308 with its
 * sign when even a double cannot hold it), so the file parses and the value reads as "very
 * large"; everything else, strings included, is copied byte for byte. Malformed JSON stays
 * malformed (the parser reports it). */
#ifndef LM_BASE_JSONNUM_H
#define LM_BASE_JSONNUM_H

#include <stddef.h>

#include "base/buf.h"

/* Appends the rewritten text to *out; returns how many integers were widened. Check out->oom. */
size_t jsonnum_widen(const char *text, size_t len, lm_buf *out);

#endif
