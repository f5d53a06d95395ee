#!/usr/bin/env python3
"""Writes the gguf_model fuzz seeds: each oracle GGUF's metadata (architecture, hyper-parameters,
vocabulary) with its dimensions shrunk to a tiny model (n_embd 8, 2 heads, 1 layer, n_ff 16) and
zero tensors (F16 matrices, F32 vectors, tied output) of the shapes those dimensions need, so a seed loads as a whole model and the
fuzzer starts from a file that reaches every check. Vocabularies over 2,000 tokens are cut to
2,000 (merges that name dropped tokens go too). Usage: gguf_seeds.py OUT_DIR ORACLE.gguf..."""
import struct, sys, os

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
FMT = {T_U8: 'B', T_I8: 'b', T_U16: 'H', T_I16: 'h', T_U32: 'I', T_I32: 'i', T_F32: 'f', T_BOOL: '?',
       T_U64: 'Q', T_I64: 'q', T_F64: 'd'}


def read(path):
    b = open(path, 'rb').read()
    pos = [0]

    def take(fmt):
        v = struct.unpack_from('<' + fmt, b, pos[0])
        pos[0] += struct.calcsize('<' + fmt)
        return v[0]

    def s():
        n = take('Q')
        v = b[pos[0]:pos[0] + n]
        pos[0] += n
        return v

    def val(t):
        if t == T_STR:
            return s()
        if t == T_ARR:
            et = take('I')
            n = take('Q')
            return (et, [val(et) for _ in range(n)])
        return take(FMT[t])

    assert b[:4] == b'GGUF'
    pos[0] = 4
    take('I')
    nt = take('Q')
    nkv = take('Q')
    kv = []
    for _ in range(nkv):
        k = s().decode()
        t = take('I')
        kv.append((k, t, val(t)))
    return kv


def write(path, kv, tensors):
    out = bytearray(b'GGUF') + struct.pack('<IQQ', 3, len(tensors), len(kv))

    def s(x):
        if isinstance(x, str):
            x = x.encode()
        out.extend(struct.pack('<Q', len(x)) + x)

    def val(t, v):
        if t == T_STR:
            s(v)
        elif t == T_ARR:
            et, items = v
            out.extend(struct.pack('<IQ', et, len(items)))
            for it in items:
                val(et, it)
        else:
            out.extend(struct.pack('<' + FMT[t], v))

    for k, t, v in kv:
        s(k)
        out.extend(struct.pack('<I', t))
        val(t, v)
    off = 0
    for name, dims in tensors:
        s(name)
        out.extend(struct.pack('<I', len(dims)))
        for d in dims:
            out.extend(struct.pack('<Q', d))
        n = 1
        for d in dims:
            n *= d
        f16 = len(dims) > 1  # matrices F16, vectors (norms, biases) F32
        out.extend(struct.pack('<IQ', 1 if f16 else 0, off))
        off += (n * (2 if f16 else 4) + 31) // 32 * 32
    out.extend(b'\0' * ((-len(out)) % 32))
    out.extend(b'\0' * off)
    open(path, 'wb').write(out)


E, H, L, F = 8, 2, 1, 16


def shrink(kv):
    arch = next(v for k, t, v in kv if k == 'general.architecture').decode()
    keep = 2000
    toks = next((v for k, t, v in kv if k == 'tokenizer.ggml.tokens'), None)
    n_vocab = min(len(toks[1]), keep) if toks else 32
    new = []
    for k, t, v in kv:
        if k.startswith(arch + '.'):
            sfx = k[len(arch) + 1:]
            repl = {'embedding_length': E, 'block_count': L, 'feed_forward_length': F, 'attention.head_count': H,
                    'attention.head_count_kv': H, 'attention.key_length': E // H, 'attention.value_length': E // H,
                    'rope.dimension_count': E // H, 'context_length': 64}
            if sfx in repl:
                v = repl[sfx]
        if t == T_ARR and k.startswith('tokenizer.ggml.') and k != 'tokenizer.ggml.merges':
            v = (v[0], v[1][:n_vocab])
        if k == 'tokenizer.ggml.merges':
            names = set(toks[1][:n_vocab])
            v = (v[0], [m for m in v[1] if all(p in names for p in m.split(b' ', 1)) and m.replace(b' ', b'') in names][:1000])
        if k.startswith('tokenizer.ggml.') and k.endswith('_token_id') and isinstance(v, int) and v >= n_vocab:
            v = 0
        new.append((k, t, v))
    return arch, n_vocab, new


def tensors_for(arch, n_vocab):
    t = [('token_embd.weight', [E, n_vocab]), ('output_norm.weight', [E])]  # tied output
    if arch == 'falcon':
        t.append(('output_norm.bias', [E]))
    for i in range(L):
        p = 'blk.%d.' % i
        t.append((p + 'attn_norm.weight', [E]))
        if arch == 'falcon':
            t += [(p + 'attn_norm.bias', [E]), (p + 'attn_qkv.weight', [E, 3 * E])]
        else:
            t += [(p + 'attn_q.weight', [E, E]), (p + 'attn_k.weight', [E, E]), (p + 'attn_v.weight', [E, E])]
            t.append((p + 'ffn_norm.weight', [E]))
            t.append((p + 'ffn_gate.weight', [E, F]))
        if arch in ('qwen3',):
            t += [(p + 'attn_q_norm.weight', [E // H]), (p + 'attn_k_norm.weight', [E // H])]
        if arch in ('qwen2',):
            t += [(p + 'attn_q.bias', [E]), (p + 'attn_k.bias', [E]), (p + 'attn_v.bias', [E])]
        t += [(p + 'attn_output.weight', [E, E]), (p + 'ffn_up.weight', [E, F]), (p + 'ffn_down.weight', [F, E])]
    return t


if __name__ == '__main__':
    out = sys.argv[1]
    for src in sys.argv[2:]:
        arch, n_vocab, kv = shrink(read(src))
        name = os.path.basename(os.path.dirname(src)) or os.path.basename(src)
        write(os.path.join(out, name + '.gguf'), kv, tensors_for(arch, n_vocab))
        print(name, arch, n_vocab)
