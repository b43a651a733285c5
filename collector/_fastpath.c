/* The ingest hot loop in C: an ExportLogsServiceRequest's protobuf bytes straight to PostgreSQL
 * binary COPY tuples, applying the rules of collector/mapping.py without building Python objects.
 *
 * collector/copy_rows.py is the reference: encode_request() here returns what
 * encode_request_reference() returns, byte for byte, for every record it does not hand back.
 * Whatever this file does not reproduce exactly (a float orjson prints differently from repr,
 * duplicate keys, deep nesting, invalid UTF-8, non-ASCII text where Python's Unicode case mapping
 * or whitespace could matter, protobuf merge semantics) is handed back, or, at the outer levels,
 * declined as a whole: correctness first, coverage second.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

enum { OK = 0, HAND_BACK = 1, NO_MEMORY = 2, DECLINE = 3, OVER_BUDGET = 4 };
#define TRY(expr) do { int status_ = (expr); if (status_ != OK) return status_; } while (0)

/* Deeper AnyValue nesting is handed back: far below protobuf's recursion limit (100 messages,
 * two per AnyValue level) and orjson's (255), so neither decides differently from us. */
#define MAX_ANY_DEPTH 20
#define NAME_CHARS 256
#define MAX_FUTURE_SKEW_US 600000000LL
#define POSTGRES_EPOCH_UNIX_US 946684800000000LL
#define MAX_FIELD_NUMBER 536870911u
#define COPY_FIELDS 23 /* len(copy_rows.COPY_COLUMNS) */

static PyObject *Declined;
static PyObject *OverBudget;

/* The seed of the hash tables' hashes, random per process (set at import), mixed in last through
 * a full 64-bit mix: keys crafted offline to share a table's slot, which would make each lookup
 * walk every earlier key, then share it only for that seed. The tables also bound their walks
 * (MAX_KEY_PROBES), which holds whatever the hash. */
static uint64_t hash_seed;

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

/* --- growable byte buffer ---------------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} Buffer;

static int buffer_reserve(Buffer *b, size_t extra) {
    if (b->len + extra <= b->cap) return OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *data = PyMem_RawRealloc(b->data, cap);
    if (!data) return NO_MEMORY;
    b->data = data;
    b->cap = cap;
    return OK;
}

/* A growable array of `*cap` items of `size` bytes, given room for twice as many (`initial` at
 * first); NULL when memory runs out, the array left as it was. */
static void *array_grow(void *items, size_t *cap, size_t size, size_t initial) {
    size_t grown_cap = *cap ? 2 * *cap : initial;
    void *grown = PyMem_RawRealloc(items, grown_cap * size);
    if (grown) *cap = grown_cap;
    return grown;
}

static int put(Buffer *b, const void *p, size_t n) {
    TRY(buffer_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return OK;
}

static int put_byte(Buffer *b, uint8_t c) {
    TRY(buffer_reserve(b, 1));
    b->data[b->len++] = c;
    return OK;
}

static int put_str(Buffer *b, const char *s) { return put(b, s, strlen(s)); }

static void store_be32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int put_be16(Buffer *b, uint16_t v) {
    uint8_t p[2] = {v >> 8, v & 0xFF};
    return put(b, p, 2);
}

static int put_be32(Buffer *b, uint32_t v) {
    uint8_t p[4];
    store_be32(p, v);
    return put(b, p, 4);
}

static int put_be64(Buffer *b, uint64_t v) {
    uint8_t p[8];
    for (int i = 0; i < 8; i++) p[i] = v >> (56 - 8 * i);
    return put(b, p, 8);
}

/* --- protobuf wire reading ------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} Reader;

typedef struct {
    uint32_t number;
    int wire_type;
    uint64_t varint;         /* wire types 0, 1, 5 */
    const uint8_t *value;    /* wire type 2 */
    size_t length;
    const uint8_t *tag_start; /* where the field's tag begins */
} Field;

static inline int read_varint(Reader *r, uint64_t *out) {
    if (r->p < r->end && *r->p < 0x80) { /* one byte: tags and short lengths, nearly all of them */
        *out = *r->p++;
        return 0;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t byte = *r->p++;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = result;
            return 0;
        }
    }
    return -1; /* more than ten bytes */
}

/* 1: a field was read; 0: the message ended; -1: malformed (or something we do not decode:
 * groups, field number 0 or beyond protobuf's range). */
static int next_field(Reader *r, Field *f) {
    if (r->p >= r->end) return 0;
    f->tag_start = r->p;
    uint64_t key;
    if (read_varint(r, &key) < 0) return -1;
    /* protobuf (upb) reads a tag, and a length, as at most five bytes: a longer one, even of a
     * small value padded with empty groups, is corrupt to it (found by make fuzz). */
    if (r->p - f->tag_start > 5) return -1;
    if ((key >> 3) == 0 || (key >> 3) > MAX_FIELD_NUMBER) return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire_type = key & 7;
    /* Every member is set, whatever the wire type: callers copy the ones they do not use. */
    f->varint = 0;
    f->value = NULL;
    f->length = 0;
    switch (f->wire_type) {
    case 0:
        if (read_varint(r, &f->varint) < 0) return -1;
        return 1;
    case 1:
        if (r->end - r->p < 8) return -1;
        for (int i = 7; i >= 0; i--) f->varint = (f->varint << 8) | r->p[i];
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4) return -1;
        f->varint = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    case 2: {
        uint64_t length;
        const uint8_t *length_start = r->p;
        if (read_varint(r, &length) < 0) return -1;
        if (r->p - length_start > 5) return -1; /* as a tag: at most five bytes to upb */
        if (length > (uint64_t)(r->end - r->p)) return -1;
        f->value = r->p;
        f->length = (size_t)length;
        r->p += length;
        return 1;
    }
    default:
        return -1;
    }
}

/* --- UTF-8 ------------------------------------------------------------------------------ */

/* Eight bytes of ASCII text without a NUL: no high bit set, no zero byte. */
static inline int ascii_word(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    return !(w & highs) && !((w - ones) & ~w & highs);
}

/* Strict UTF-8 as Python decodes it (no overlongs, surrogates or code points past U+10FFFF).
 * Sets *chars to the number of code points, *ascii and *nul to what the text holds. */
static int utf8_check(const uint8_t *p, size_t n, size_t *chars, int *ascii, int *nul) {
    size_t count = 0, i = 0;
    int only_ascii = 1, has_nul = 0;
    /* ASCII text without a NUL, eight bytes at a time, the last eight overlapping the others:
     * nearly every key and value services send, decided without a byte-wise tail. */
    if (n >= 8) {
        uint64_t w;
        int good = 1;
        size_t at = 0;
        for (; at + 8 <= n && good; at += 8) {
            memcpy(&w, p + at, 8);
            good = ascii_word(w);
        }
        if (good && at < n) {
            memcpy(&w, p + n - 8, 8);
            good = ascii_word(w);
        }
        if (good) {
            if (chars) *chars = n;
            if (ascii) *ascii = 1;
            if (nul) *nul = 0;
            return 0;
        }
    }
    while (i < n) {
        /* Eight ASCII bytes without a NUL at a time: most of what services log. */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (ascii_word(w)) {
                i += 8;
                count += 8;
                continue;
            }
        }
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c == 0) has_nul = 1;
            i++;
        } else {
            only_ascii = 0;
            if (c >= 0xC2 && c <= 0xDF) {
                if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80) return -1;
                i += 2;
            } else if (c >= 0xE0 && c <= 0xEF) {
                if (i + 2 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return -1;
                if (c == 0xE0 && p[i + 1] < 0xA0) return -1;
                if (c == 0xED && p[i + 1] >= 0xA0) return -1;
                i += 3;
            } else if (c >= 0xF0 && c <= 0xF4) {
                if (i + 3 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 ||
                    (p[i + 3] & 0xC0) != 0x80)
                    return -1;
                if (c == 0xF0 && p[i + 1] < 0x90) return -1;
                if (c == 0xF4 && p[i + 1] >= 0x90) return -1;
                i += 4;
            } else {
                return -1;
            }
        }
        count++;
    }
    if (chars) *chars = count;
    if (ascii) *ascii = only_ascii;
    if (nul) *nul = has_nul;
    return 0;
}

/* The byte length of the first `limit` code points of valid UTF-8 text (Python's text[:limit]). */
static size_t utf8_prefix(const uint8_t *p, size_t n, size_t limit) {
    size_t i = 0, count = 0;
    while (i < n && count < limit) {
        uint8_t c = p[i];
        i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        count++;
    }
    return i;
}

/* Python's str.isspace() for ASCII: the characters str.strip() removes. */
static int ascii_space(uint8_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
}

static uint8_t ascii_lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* --- the state of one call ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} Span;

/* One attribute of a record, its key and value located, not decoded. */
typedef struct {
    Span key;
    Span value;
    int has_value;
    int contract; /* the contract attribute the key names (contract_index), or -1 */
} KeyValue;

typedef struct {
    Buffer out;       /* the COPY tuples */
    Buffer scratch;   /* values encoded only to be validated */
    Buffer json;      /* a record's fields, or the body's message */
    Buffer resource;  /* the current resource's JSON */
    Buffer repaired_a, repaired_b;
    Span *keys;       /* duplicate-key detection: an open-addressing table */
    size_t keys_cap;
    KeyValue *attributes; /* the record's attributes, parsed once (parse_record) */
    size_t attributes_cap;
    int repaired;     /* a NUL was replaced in what is being mapped */
    int clamped;      /* the record's time was more than MAX_FUTURE_SKEW ahead */
    PyThreadState *released; /* the GIL is released for the walk; put_double takes it back */
} State;

static void state_free(State *s) {
    PyMem_RawFree(s->out.data);
    PyMem_RawFree(s->scratch.data);
    PyMem_RawFree(s->json.data);
    PyMem_RawFree(s->resource.data);
    PyMem_RawFree(s->repaired_a.data);
    PyMem_RawFree(s->repaired_b.data);
    PyMem_RawFree(s->keys);
    PyMem_RawFree(s->attributes);
}

/* --- JSON text ------------------------------------------------------------------------------ */

/* Two writers: orjson (``collector.model.dumps``: fields and resource) and the standard
 * library's json.dumps(ensure_ascii=False, separators=(",", ":")) (a structured body's message).
 * They agree on everything but floats. */
enum { ORJSON = 0, STDLIB_JSON = 1, VALIDATE = 2 };
/* VALIDATE: what Python decodes but never shows (scope attributes, contract values that become
 * columns): written to scratch only to be checked, so duplicate keys and floats do not matter. */

static const char HEX[] = "0123456789abcdef";

/* A JSON string of valid UTF-8 text, NUL replaced by U+FFFD. */
static int put_json_string(State *s, Buffer *b, const uint8_t *p, size_t n) {
    TRY(buffer_reserve(b, n + 2));
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        /* Eight bytes with nothing to escape (no control character, quote or backslash) at a time. */
        while (i + 8 <= n) {
            uint64_t w, ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            memcpy(&w, p + i, 8);
            uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
            if (((w - ones * 0x20) & ~w & highs) || ((quote - ones) & ~quote & highs) ||
                ((backslash - ones) & ~backslash & highs))
                break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        TRY(put(b, p + run, i - run));
        run = i + 1;
        switch (c) {
        case '"': TRY(put(b, "\\\"", 2)); break;
        case '\\': TRY(put(b, "\\\\", 2)); break;
        case '\n': TRY(put(b, "\\n", 2)); break;
        case '\r': TRY(put(b, "\\r", 2)); break;
        case '\t': TRY(put(b, "\\t", 2)); break;
        case '\b': TRY(put(b, "\\b", 2)); break;
        case '\f': TRY(put(b, "\\f", 2)); break;
        case 0:
            s->repaired = 1;
            TRY(put(b, "\xEF\xBF\xBD", 3));
            break;
        default: {
            char escape[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
            TRY(put(b, escape, 6));
        }
        }
    }
    TRY(put(b, p + run, n - run));
    return put_byte(b, '"');
}

/* Text as a COPY text field (length, bytes), NUL replaced by U+FFFD. */
static int put_text_field(State *s, Buffer *b, const uint8_t *p, size_t n) {
    size_t at = b->len;
    TRY(put_be32(b, 0));
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i]) continue;
        s->repaired = 1;
        TRY(put(b, p + run, i - run));
        TRY(put(b, "\xEF\xBF\xBD", 3));
        run = i + 1;
    }
    TRY(put(b, p + run, n - run));
    store_be32(b->data + at, (uint32_t)(b->len - at - 4));
    return OK;
}

static int put_null_field(Buffer *b) { return put_be32(b, 0xFFFFFFFFu); }

static int put_int8_field(Buffer *b, int64_t v) {
    TRY(put_be32(b, 8));
    return put_be64(b, (uint64_t)v);
}

static int put_int2_field(Buffer *b, int v) {
    TRY(put_be32(b, 2));
    return put_be16(b, (uint16_t)v);
}

/* Decimal text of v (what "%lld" prints; snprintf costs several times more per call). */
static int put_int64_text(Buffer *b, int64_t v) {
    char text[24];
    char *end = text + sizeof text, *p = end;
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (v < 0) *--p = '-';
    return put(b, p, (size_t)(end - p));
}

/* repr(float), which is also what orjson prints except in the exponent form of small numbers
 * ("1e-05" against orjson's "0.00001"): those are handed back when writing for orjson. */
static int put_double(State *s, Buffer *b, double v, int flavor) {
    /* Whole numbers below 1e16 (durations, counters sent as doubles: the common case) print as
     * the integer and ".0" in repr and in orjson alike, without the general algorithm. */
    if (v == trunc(v) && fabs(v) < 1e16) {
        if (v == 0 && signbit(v)) TRY(put_byte(b, '-'));
        TRY(put_int64_text(b, (int64_t)v));
        return put(b, ".0", 2);
    }
    /* PyOS_double_to_string allocates with PyMem_Malloc, which needs the GIL: when the walk runs
     * without it, it is taken back for this call only. */
    if (s->released) PyEval_RestoreThread(s->released);
    char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    int status = OK;
    if (!text) {
        PyErr_Clear(); /* reported as NO_MEMORY once the walk is over */
        status = NO_MEMORY;
    } else {
        if (flavor == ORJSON && strstr(text, "e-")) status = HAND_BACK;
        else status = put_str(b, text);
        PyMem_Free(text);
    }
    if (s->released) s->released = PyEval_SaveThread();
    return status;
}

static int put_base64(Buffer *b, const uint8_t *p, size_t n) {
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    TRY(buffer_reserve(b, (n + 2) / 3 * 4));
    uint8_t *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = ALPHABET[v >> 18]; *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = ALPHABET[(v >> 6) & 63]; *o++ = ALPHABET[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = ALPHABET[v >> 18]; *o++ = ALPHABET[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = ALPHABET[v >> 18]; *o++ = ALPHABET[(v >> 12) & 63]; *o++ = ALPHABET[(v >> 6) & 63]; *o++ = '=';
    }
    b->len = o - b->data;
    return OK;
}

/* --- AnyValue ------------------------------------------------------------------------------- */

enum { KIND_NONE = 0, KIND_STRING = 1, KIND_BOOL = 2, KIND_INT = 3, KIND_DOUBLE = 4,
       KIND_ARRAY = 5, KIND_KVLIST = 6, KIND_BYTES = 7 };
static const int KIND_WIRE_TYPE[8] = {-1, 2, 0, 0, 1, 2, 2, 2};

typedef struct {
    int kind;
    uint64_t scalar;
    Span bytes; /* string, bytes, array or kvlist content */
} Any;

/* One AnyValue message. More than one value field (a oneof switched or a message merged),
 * string_value_strindex and mismatched wire types are handed back. */
static int parse_any(const uint8_t *p, size_t n, Any *any) {
    Reader r = {p, p + n};
    Field f;
    int rc;
    any->kind = KIND_NONE;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number > 8) continue;
        if (f.number == 8 || any->kind != KIND_NONE || f.wire_type != KIND_WIRE_TYPE[f.number]) return HAND_BACK;
        any->kind = (int)f.number;
        any->scalar = f.varint;
        any->bytes.p = f.value;
        any->bytes.n = f.length;
    }
    if (rc < 0) return HAND_BACK;
    if (any->kind == KIND_STRING) {
        if (utf8_check(any->bytes.p, any->bytes.n, NULL, NULL, NULL) < 0) return HAND_BACK;
    }
    return OK;
}

static int parse_key_value(const uint8_t *p, size_t n, KeyValue *kv) {
    Reader r = {p, p + n};
    Field f;
    int rc, seen_key = 0;
    kv->key.p = p; kv->key.n = 0;
    kv->has_value = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == 1) {
            if (f.wire_type != 2 || seen_key) return HAND_BACK;
            seen_key = 1;
            kv->key.p = f.value; kv->key.n = f.length;
        } else if (f.number == 2) {
            if (f.wire_type != 2 || kv->has_value) return HAND_BACK;
            kv->has_value = 1;
            kv->value.p = f.value; kv->value.n = f.length;
        } else if (f.number == 3) {
            return HAND_BACK; /* key_strindex */
        }
    }
    if (rc < 0) return HAND_BACK;
    if (utf8_check(kv->key.p, kv->key.n, NULL, NULL, NULL) < 0) return HAND_BACK;
    return OK;
}

/* Keys as Python holds them once NUL became U+FFFD, compared with the NUL repaired. */
static int repaired_copy(Buffer *b, Span key) {
    b->len = 0;
    for (size_t i = 0; i < key.n; i++) {
        if (key.p[i]) TRY(put_byte(b, key.p[i]));
        else TRY(put(b, "\xEF\xBF\xBD", 3));
    }
    return OK;
}

static uint64_t key_hash(Span key) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < key.n; i++) {
        if (key.p[i]) {
            h = (h ^ key.p[i]) * 1099511628211ULL;
        } else {
            h = (h ^ 0xEF) * 1099511628211ULL;
            h = (h ^ 0xBF) * 1099511628211ULL;
            h = (h ^ 0xBD) * 1099511628211ULL;
        }
    }
    /* Seeded through a full mix: FNV's low bits depend only on the keys' low bits, and a seed
       XORed into a weak mix leaves keys that collide under one seed colliding under all. */
    return mix64(h ^ hash_seed);
}

static int keys_equal(State *s, Span a, Span b, int *equal) {
    if (!memchr(a.p, 0, a.n) && !memchr(b.p, 0, b.n)) {
        *equal = a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
        return OK;
    }
    TRY(repaired_copy(&s->repaired_a, a));
    TRY(repaired_copy(&s->repaired_b, b));
    *equal = s->repaired_a.len == s->repaired_b.len && memcmp(s->repaired_a.data, s->repaired_b.data, s->repaired_a.len) == 0;
    return OK;
}

/* A table for `count` keys, emptied. */
static int keys_begin(State *s, size_t count) {
    size_t cap = 16;
    while (cap < count * 2) cap *= 2;
    if (cap > s->keys_cap) {
        Span *keys = PyMem_RawRealloc(s->keys, cap * sizeof(Span));
        if (!keys) return NO_MEMORY;
        s->keys = keys;
        s->keys_cap = cap;
    }
    memset(s->keys, 0, cap * sizeof(Span)); /* the table in use is the first `cap` slots */
    return OK;
}

/* Adds a key; HAND_BACK when it is already there (a Python dict would keep only the last value),
 * or when finding its place takes more than MAX_KEY_PROBES steps: at most half full, a table of
 * seeded hashes practically never does, and keys that make it do (crafted against a seed that
 * leaked) are left to Python, whose dict stays linear, instead of costing every later lookup a
 * walk over them (28,000 such keys in a 252 KB record took 2.1 s here, Python 26 ms). */
#define MAX_KEY_PROBES 32
static int keys_add(State *s, size_t cap, Span key) {
    size_t mask = cap - 1, i = key_hash(key) & mask, probes = 0;
    while (s->keys[i].p) {
        int equal;
        TRY(keys_equal(s, s->keys[i], key, &equal));
        if (equal || ++probes > MAX_KEY_PROBES) return HAND_BACK;
        i = (i + 1) & mask;
    }
    s->keys[i] = key; /* spans never point at NULL: a NULL pointer marks an empty slot */
    return OK;
}

static size_t keys_capacity(size_t count) {
    size_t cap = 16;
    while (cap < count * 2) cap *= 2;
    return cap;
}

static int count_fields(const uint8_t *p, size_t n, uint32_t number, size_t *count) {
    Reader r = {p, p + n};
    Field f;
    int rc;
    *count = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == number) {
            if (f.wire_type != 2) return HAND_BACK;
            (*count)++;
        }
    }
    return rc < 0 ? HAND_BACK : OK;
}

static int put_json_any(State *s, Buffer *b, const Any *any, int flavor, int depth);

/* The content of a KeyValueList as a JSON object; HAND_BACK on duplicate keys. */
static int put_json_kvlist(State *s, Buffer *b, Span list, int flavor, int depth) {
    size_t count;
    TRY(count_fields(list.p, list.n, 1, &count));
    if (count > 1 && flavor != VALIDATE) {
        size_t cap = keys_capacity(count);
        TRY(keys_begin(s, count));
        Reader r = {list.p, list.p + list.n};
        Field f;
        while (next_field(&r, &f) > 0) {
            if (f.number != 1) continue;
            KeyValue kv;
            TRY(parse_key_value(f.value, f.length, &kv));
            TRY(keys_add(s, cap, kv.key));
        }
    }
    TRY(put_byte(b, '{'));
    Reader r = {list.p, list.p + list.n};
    Field f;
    int first = 1;
    while (next_field(&r, &f) > 0) {
        if (f.number != 1) continue;
        KeyValue kv;
        TRY(parse_key_value(f.value, f.length, &kv));
        if (!first) TRY(put_byte(b, ','));
        first = 0;
        TRY(put_json_string(s, b, kv.key.p, kv.key.n));
        TRY(put_byte(b, ':'));
        Any value = {KIND_NONE};
        if (kv.has_value) TRY(parse_any(kv.value.p, kv.value.n, &value));
        TRY(put_json_any(s, b, &value, flavor, depth + 1));
    }
    return put_byte(b, '}');
}

static int put_json_array(State *s, Buffer *b, Span list, int flavor, int depth) {
    TRY(put_byte(b, '['));
    Reader r = {list.p, list.p + list.n};
    Field f;
    int rc, first = 1;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number != 1) continue;
        if (f.wire_type != 2) return HAND_BACK;
        if (!first) TRY(put_byte(b, ','));
        first = 0;
        Any value;
        TRY(parse_any(f.value, f.length, &value));
        TRY(put_json_any(s, b, &value, flavor, depth + 1));
    }
    if (rc < 0) return HAND_BACK;
    return put_byte(b, ']');
}

/* any_value_to_python(value) as JSON. */
static int put_json_any(State *s, Buffer *b, const Any *any, int flavor, int depth) {
    if (depth > MAX_ANY_DEPTH) return HAND_BACK;
    switch (any->kind) {
    case KIND_NONE: return put(b, "null", 4);
    case KIND_STRING: return put_json_string(s, b, any->bytes.p, any->bytes.n);
    case KIND_BOOL: return any->scalar ? put(b, "true", 4) : put(b, "false", 5);
    case KIND_INT: return put_int64_text(b, (int64_t)any->scalar);
    case KIND_DOUBLE: {
        double v;
        memcpy(&v, &any->scalar, sizeof v);
        if (isnan(v)) return put(b, "\"NaN\"", 5);
        if (isinf(v)) return v > 0 ? put(b, "\"Infinity\"", 10) : put(b, "\"-Infinity\"", 11);
        return put_double(s, b, v, flavor);
    }
    case KIND_BYTES:
        TRY(put_byte(b, '"'));
        TRY(put_base64(b, any->bytes.p, any->bytes.n));
        return put_byte(b, '"');
    case KIND_ARRAY: return put_json_array(s, b, any->bytes, flavor, depth);
    case KIND_KVLIST: return put_json_kvlist(s, b, any->bytes, flavor, depth);
    }
    return HAND_BACK;
}

/* --- the mapping's rules ------------------------------------------------------------------- */

static const char *const SOURCES[] = {"api", "comfyui", "worker", "agent", "pipeline"};
static const char *const CATEGORIES[] = {"curated", "verbose"};
/* contract.LEVEL_IDS and SOURCE_IDS: the lookup rows are numbered from 1 in declaration order
 * (tests/unit/test_fastpath_equivalence.py proves the tuples agree with the reference's). */
enum { LEVEL_DEBUG = 1, LEVEL_INFO = 2, LEVEL_WARN = 3, LEVEL_ERROR = 4 };

static int span_is(Span s, const char *text) {
    size_t n = strlen(text);
    return s.n == n && memcmp(s.p, text, n) == 0;
}

/* mapping._known: the value's index in `names`, -1 when it is none of them. HAND_BACK for
 * non-ASCII text, which Python's strip() and lower() could still turn into a name. */
static int known_name(const Any *any, const char *const *names, int count, int *index) {
    *index = -1;
    if (any->kind != KIND_STRING) return OK;
    for (int i = 0; i < count; i++) {
        if (span_is(any->bytes, names[i])) { *index = i; return OK; }
    }
    const uint8_t *p = any->bytes.p, *end = p + any->bytes.n;
    for (const uint8_t *q = p; q < end; q++) if (*q >= 0x80) return HAND_BACK;
    while (p < end && ascii_space(*p)) p++;
    while (end > p && ascii_space(end[-1])) end--;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(names[i]);
        if ((size_t)(end - p) != n) continue;
        size_t j = 0;
        while (j < n && ascii_lower(p[j]) == (uint8_t)names[i][j]) j++;
        if (j == n) { *index = i; return OK; }
    }
    return OK;
}

/* mapping.as_int64: *ok is 0 when the value is not an id. */
static int as_int64(const Any *any, int64_t *value, int *ok) {
    *ok = 0;
    if (any->kind == KIND_INT) {
        *value = (int64_t)any->scalar;
        *ok = 1;
        return OK;
    }
    if (any->kind != KIND_STRING) return OK;
    const uint8_t *p = any->bytes.p, *end = p + any->bytes.n;
    for (const uint8_t *q = p; q < end; q++) if (*q >= 0x80) return HAND_BACK;
    while (p < end && ascii_space(*p)) p++;
    while (end > p && ascii_space(end[-1])) end--;
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-')) negative = *p++ == '-';
    size_t digits = (size_t)(end - p);
    if (digits < 1 || digits > 19) return OK;
    uint64_t magnitude = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return OK;
        magnitude = magnitude * 10 + (uint64_t)(*p - '0');
    }
    if (negative ? magnitude > (uint64_t)INT64_MAX + 1 : magnitude > (uint64_t)INT64_MAX) return OK;
    *value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    *ok = 1;
    return OK;
}

static int starts_with_any(const uint8_t *p, size_t n, const char *const *words) {
    for (; *words; words++) {
        size_t len = strlen(*words), j = 0;
        if (len > n) continue;
        while (j < len && ascii_lower(p[j]) == (uint8_t)(*words)[j]) j++;
        if (j == len) return 1;
    }
    return 0;
}

/* mapping.severity_to_level; HAND_BACK when the text decides and is not ASCII. */
static int severity_level(int32_t number, Span text, int *level) {
    if (number >= 1 && number <= 8) { *level = LEVEL_DEBUG; return OK; }
    if (number >= 9 && number <= 12) { *level = LEVEL_INFO; return OK; }
    if (number >= 13 && number <= 16) { *level = LEVEL_WARN; return OK; }
    if (number >= 17) { *level = LEVEL_ERROR; return OK; }
    const uint8_t *p = text.p, *end = p + text.n;
    for (const uint8_t *q = p; q < end; q++) if (*q >= 0x80) return HAND_BACK;
    while (p < end && ascii_space(*p)) p++;
    static const char *const DEBUG_WORDS[] = {"trace", "debug", "fine", NULL};
    static const char *const WARN_WORDS[] = {"warn", NULL};
    static const char *const ERROR_WORDS[] = {"err", "fatal", "crit", "alert", "emerg", "panic", "severe", NULL};
    size_t n = (size_t)(end - p);
    if (starts_with_any(p, n, DEBUG_WORDS)) *level = LEVEL_DEBUG;
    else if (starts_with_any(p, n, WARN_WORDS)) *level = LEVEL_WARN;
    else if (starts_with_any(p, n, ERROR_WORDS)) *level = LEVEL_ERROR;
    else *level = LEVEL_INFO;
    return OK;
}

/* mapping.source_from_service_name (a 1-based source id). Of all non-ASCII characters only
 * U+0130 and U+212A lower-case to ASCII letters ("i̇", "k"): those are handed back. */
static int source_from_service_name(Span name, int *source) {
    static const struct { const char *needle; int source; } NEEDLES[] = {
        {"comfy", 2}, {"agent", 4}, {"pipeline", 5}, {"worker", 3}, {"api", 1}};
    for (size_t i = 0; i + 1 < name.n; i++) {
        if ((name.p[i] == 0xC4 && name.p[i + 1] == 0xB0) ||
            (i + 2 < name.n && name.p[i] == 0xE2 && name.p[i + 1] == 0x84 && name.p[i + 2] == 0xAA))
            return HAND_BACK;
    }
    for (size_t k = 0; k < sizeof NEEDLES / sizeof NEEDLES[0]; k++) {
        size_t len = strlen(NEEDLES[k].needle);
        for (size_t i = 0; i + len <= name.n; i++) {
            size_t j = 0;
            while (j < len && ascii_lower(name.p[i + j]) == (uint8_t)NEEDLES[k].needle[j]) j++;
            if (j == len) { *source = NEEDLES[k].source; return OK; }
        }
    }
    *source = 1; /* attributes.FALLBACK_SOURCE: api */
    return OK;
}

/* --- resources and scopes ------------------------------------------------------------------- */

typedef struct {
    Span service_name;       /* as in the row, NUL not yet repaired */
    int service_name_given;  /* else "unknown_service" */
    Any resource_source;
    int repaired;
    Span scope_name, scope_version;
} Context;

/* Validate what a header holds that the mapping does not read (scope attributes): an AnyValue
 * Python would fail to decode must not pass here. */
static int validate_key_values(State *s, Span message, uint32_t number) {
    Reader r = {message.p, message.p + message.n};
    Field f;
    int rc;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number != number) continue;
        if (f.wire_type != 2) return HAND_BACK;
        KeyValue kv;
        TRY(parse_key_value(f.value, f.length, &kv));
        Any value = {KIND_NONE};
        if (kv.has_value) TRY(parse_any(kv.value.p, kv.value.n, &value));
        s->scratch.len = 0;
        TRY(put_json_any(s, &s->scratch, &value, VALIDATE, 1));
    }
    return rc < 0 ? HAND_BACK : OK;
}

/* ResourceLogs and ScopeLogs share a shape: their message (1: the resource or the scope, at most
 * once), the repeated children (2, length-delimited) and schema_url (3, at most once, UTF-8).
 * `message` is the first field's content (empty when absent). */
static int header_message(Span header, Span *message) {
    Reader r = {header.p, header.p + header.n};
    Field f;
    int rc, seen_message = 0, seen_schema = 0;
    message->p = header.p; message->n = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == 1) {
            if (f.wire_type != 2 || seen_message) return HAND_BACK;
            seen_message = 1;
            message->p = f.value; message->n = f.length;
        } else if (f.number == 3) {
            if (f.wire_type != 2 || seen_schema) return HAND_BACK;
            seen_schema = 1;
            if (utf8_check(f.value, f.length, NULL, NULL, NULL) < 0) return HAND_BACK;
        } else if (f.number == 2 && f.wire_type != 2) {
            return HAND_BACK;
        }
    }
    return rc < 0 ? HAND_BACK : OK;
}

/* A resource-logs header (its fields but the scope logs): the resource's JSON into s->resource,
 * service.name and activity.source. Anything unusual is HAND_BACK, which declines the request. */
static int map_resource(State *s, Span header, Context *c) {
    Span attributes_owner;
    TRY(header_message(header, &attributes_owner));
    /* Resource: attributes (1), dropped_attributes_count (2), entity_refs (3, not decoded here). */
    Reader r = {attributes_owner.p, attributes_owner.p + attributes_owner.n};
    Field f;
    int rc;
    size_t count = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == 1) {
            if (f.wire_type != 2) return HAND_BACK;
            count++;
        } else if (f.number == 2) {
            if (f.wire_type != 0) return HAND_BACK;
        } else if (f.number == 3) {
            return HAND_BACK;
        }
    }
    if (rc < 0) return HAND_BACK;
    size_t cap = keys_capacity(count);
    TRY(keys_begin(s, count));
    r.p = attributes_owner.p;
    while (next_field(&r, &f) > 0) {
        if (f.number != 1) continue;
        KeyValue kv;
        TRY(parse_key_value(f.value, f.length, &kv));
        TRY(keys_add(s, cap, kv.key));
    }
    s->repaired = 0;
    c->service_name_given = 0;
    c->resource_source.kind = KIND_NONE;
    Buffer *b = &s->resource;
    b->len = 0;
    TRY(put_byte(b, '{'));
    r.p = attributes_owner.p;
    int first = 1;
    while (next_field(&r, &f) > 0) {
        if (f.number != 1) continue;
        KeyValue kv;
        TRY(parse_key_value(f.value, f.length, &kv));
        Any value = {KIND_NONE};
        if (kv.has_value) TRY(parse_any(kv.value.p, kv.value.n, &value));
        if (span_is(kv.key, "service.name") && value.kind == KIND_STRING) {
            c->service_name_given = 1;
            c->service_name.p = value.bytes.p;
            c->service_name.n = utf8_prefix(value.bytes.p, value.bytes.n, NAME_CHARS);
        }
        if (span_is(kv.key, "activity.source")) c->resource_source = value;
        /* Python sees bytes as base64 text and non-finite doubles as "NaN" or "Infinity": text
         * that could be the service name or the source. */
        if (span_is(kv.key, "service.name") || span_is(kv.key, "activity.source")) {
            if (value.kind == KIND_BYTES) return HAND_BACK;
            if (value.kind == KIND_DOUBLE) {
                double number;
                memcpy(&number, &value.scalar, sizeof number);
                if (!isfinite(number)) return HAND_BACK;
            }
        }
        if (!first) TRY(put_byte(b, ','));
        first = 0;
        TRY(put_json_string(s, b, kv.key.p, kv.key.n));
        TRY(put_byte(b, ':'));
        TRY(put_json_any(s, b, &value, ORJSON, 1));
    }
    TRY(put_byte(b, '}'));
    c->repaired = s->repaired;
    return OK;
}

/* A scope-logs header: the scope's name and version (cut at NAME_CHARS). */
static int map_scope(State *s, Span header, const Context *resource, Context *c) {
    *c = *resource;
    c->scope_name.n = c->scope_version.n = 0;
    c->scope_name.p = c->scope_version.p = header.p;
    Span scope;
    TRY(header_message(header, &scope));
    Reader r = {scope.p, scope.p + scope.n};
    Field f;
    int rc;
    int seen_name = 0, seen_version = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == 1 || f.number == 2) {
            int *seen = f.number == 1 ? &seen_name : &seen_version;
            Span *target = f.number == 1 ? &c->scope_name : &c->scope_version;
            if (f.wire_type != 2 || *seen) return HAND_BACK;
            *seen = 1;
            int nul;
            if (utf8_check(f.value, f.length, NULL, NULL, &nul) < 0) return HAND_BACK;
            target->p = f.value;
            target->n = utf8_prefix(f.value, f.length, NAME_CHARS);
            if (memchr(target->p, 0, target->n)) c->repaired = 1;
        } else if (f.number == 3) {
            if (f.wire_type != 2) return HAND_BACK;
        } else if (f.number == 4) {
            if (f.wire_type != 0) return HAND_BACK;
        }
    }
    if (rc < 0) return HAND_BACK;
    return validate_key_values(s, scope, 3);
}

/* --- one log record ------------------------------------------------------------------------- */

enum { C_SOURCE, C_CATEGORY, C_ENTITY_TYPE, C_ENTITY_ID, C_USER_ID, C_JOB_ID, C_PROJECT_ID, C_ENDUSER_ID, C_COUNT };
static const char *const CONTRACT_NAMES[C_COUNT] = {
    "activity.source", "activity.category", "activity.entity.type", "activity.entity.id",
    "activity.user.id", "activity.job.id", "activity.project.id", "enduser.id"};

/* The contract attribute a key names, or -1. Every attribute of every record asks: most keys are
 * told apart by their first byte or their length before any comparison. */
static int contract_index(Span key) {
    if (key.n < 10 || key.n > 20 || (key.p[0] != 'a' && key.p[0] != 'e')) return -1;
    for (int i = 0; i < C_COUNT; i++)
        if (span_is(key, CONTRACT_NAMES[i])) return i;
    return -1;
}

typedef struct {
    uint64_t time, observed;
    int32_t severity_number;
    uint32_t flags;
    Span severity_text, event_name, trace_id, span_id, body;
    int has_body;
    size_t attribute_count;
    Any contract[C_COUNT];
    int has_contract[C_COUNT];
} Record;

static int parse_record(State *s, const uint8_t *p, size_t n, Record *rec) {
    memset(rec, 0, sizeof *rec);
    rec->severity_text.p = rec->event_name.p = rec->trace_id.p = rec->span_id.p = p;
    Reader r = {p, p + n};
    Field f;
    int rc;
    uint32_t seen_strings = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.number) {
        case 1: if (f.wire_type != 1) return HAND_BACK; rec->time = f.varint; break;
        case 11: if (f.wire_type != 1) return HAND_BACK; rec->observed = f.varint; break;
        case 2: if (f.wire_type != 0) return HAND_BACK; rec->severity_number = (int32_t)(uint32_t)f.varint; break;
        case 7: if (f.wire_type != 0) return HAND_BACK; break;
        case 8: if (f.wire_type != 5) return HAND_BACK; rec->flags = (uint32_t)f.varint; break;
        case 3: case 9: case 10: case 12: {
            /* Sent twice, the last value wins, but protobuf still validates the first as UTF-8 (and
             * refuses the request when it is not): hand such a record back rather than judge it. */
            if (f.wire_type != 2 || (seen_strings & (1u << f.number))) return HAND_BACK;
            seen_strings |= 1u << f.number;
            Span value = {f.value, f.length};
            if (f.number == 3) rec->severity_text = value;
            else if (f.number == 9) rec->trace_id = value;
            else if (f.number == 10) rec->span_id = value;
            else rec->event_name = value;
            break;
        }
        case 5:
            if (f.wire_type != 2 || rec->has_body) return HAND_BACK; /* a second body would merge */
            rec->has_body = 1;
            rec->body.p = f.value; rec->body.n = f.length;
            break;
        case 6: {
            if (f.wire_type != 2) return HAND_BACK;
            if (rec->attribute_count == s->attributes_cap) {
                KeyValue *grown = array_grow(s->attributes, &s->attributes_cap, sizeof(KeyValue), 32);
                if (!grown) return NO_MEMORY;
                s->attributes = grown;
            }
            KeyValue *attribute = &s->attributes[rec->attribute_count++];
            TRY(parse_key_value(f.value, f.length, attribute));
            KeyValue kv = *attribute;
            int i = attribute->contract = contract_index(kv.key);
            if (i >= 0) {
                if (rec->has_contract[i]) return HAND_BACK; /* duplicate: the dict keeps the last */
                rec->has_contract[i] = 1;
                rec->contract[i].kind = KIND_NONE;
                if (kv.has_value) TRY(parse_any(kv.value.p, kv.value.n, &rec->contract[i]));
                /* Python sees bytes as base64 text and non-finite doubles as "NaN" or "Infinity":
                 * strings that could still be a name, an id or an entity type. */
                Any *value = &rec->contract[i];
                if (value->kind == KIND_BYTES) return HAND_BACK;
                if (value->kind == KIND_DOUBLE) {
                    double number;
                    memcpy(&number, &value->scalar, sizeof number);
                    if (!isfinite(number)) return HAND_BACK;
                }
            }
            break;
        }
        default: break;
        }
    }
    if (rc < 0) return HAND_BACK;
    if (utf8_check(rec->severity_text.p, rec->severity_text.n, NULL, NULL, NULL) < 0) return HAND_BACK;
    if (utf8_check(rec->event_name.p, rec->event_name.n, NULL, NULL, NULL) < 0) return HAND_BACK;
    return OK;
}

static int hex_id(Span raw, size_t length) {
    if (raw.n != length) return 0;
    for (size_t i = 0; i < length; i++) if (raw.p[i]) return 1;
    return 0;
}

static int put_hex_field(Buffer *b, Span raw) {
    TRY(put_be32(b, (uint32_t)raw.n * 2));
    TRY(buffer_reserve(b, raw.n * 2));
    uint8_t *out = b->data + b->len; /* a local cursor: stores through b->data may alias b->len */
    for (size_t i = 0; i < raw.n; i++) {
        out[2 * i] = HEX[raw.p[i] >> 4];
        out[2 * i + 1] = HEX[raw.p[i] & 15];
    }
    b->len += raw.n * 2;
    return OK;
}

/* datetime.isoformat() of a UTC time in microseconds since 1970 (not before), "+00:00" written
 * "Z"; with always_micros, isoformat(timespec="microseconds"). */
static int put_isoformat(Buffer *b, int64_t us, int always_micros) {
    int64_t seconds = us / 1000000, micros = us % 1000000;
    int64_t days = seconds / 86400, rest = seconds % 86400;
    /* civil date from days since 1970-01-01 (Howard Hinnant's algorithm) */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char text[48];
    int n;
    if (micros || always_micros)
        n = snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", (long long)y,
                     (long long)m, (long long)d, (long long)(rest / 3600), (long long)(rest / 60 % 60),
                     (long long)(rest % 60), (long long)micros);
    else
        n = snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m,
                     (long long)d, (long long)(rest / 3600), (long long)(rest / 60 % 60), (long long)(rest % 60));
    return put(b, text, (size_t)n);
}

typedef struct {
    int64_t received_us;
    int64_t row_id;
} RowInput;

/* One record's tuple appended to s->out; on HAND_BACK the caller drops what was appended. */
static int encode_record(State *s, const uint8_t *p, size_t n, const Context *c, const RowInput *in) {
    Record rec;
    TRY(parse_record(s, p, n, &rec));
    s->repaired = c->repaired;

    /* The contract's columns. */
    int source = -1, category = -1, entity_type_ok = 0;
    int64_t ids[C_COUNT] = {0};
    int id_ok[C_COUNT] = {0};
    TRY(known_name(&rec.contract[C_SOURCE], SOURCES, 5, &source));
    TRY(known_name(&rec.contract[C_CATEGORY], CATEGORIES, 2, &category));
    for (int i = C_ENTITY_ID; i <= C_ENDUSER_ID; i++) TRY(as_int64(&rec.contract[i], &ids[i], &id_ok[i]));
    int64_t user_id = ids[C_USER_ID];
    int user_ok = id_ok[C_USER_ID];
    if (!user_ok) { user_id = ids[C_ENDUSER_ID]; user_ok = id_ok[C_ENDUSER_ID]; }
    const Any *entity_type = &rec.contract[C_ENTITY_TYPE];
    if (entity_type->kind == KIND_STRING && entity_type->bytes.n) {
        size_t chars;
        utf8_check(entity_type->bytes.p, entity_type->bytes.n, &chars, NULL, NULL);
        entity_type_ok = chars <= NAME_CHARS;
    }
    /* Which contract attributes stay visible in fields, in the mapping's order. */
    int keep[C_COUNT] = {0};
    int mapped[C_COUNT] = {source >= 0, category >= 0, entity_type_ok, id_ok[C_ENTITY_ID], 0,
                           id_ok[C_JOB_ID], id_ok[C_PROJECT_ID], 0};
    static const int RESTORE_ORDER[] = {C_SOURCE, C_CATEGORY, C_ENTITY_TYPE, C_ENTITY_ID, C_JOB_ID, C_PROJECT_ID};
    for (int k = 0; k < 6; k++) {
        int i = RESTORE_ORDER[k];
        keep[i] = !mapped[i] && rec.has_contract[i] && rec.contract[i].kind != KIND_NONE;
    }
    keep[C_USER_ID] = rec.has_contract[C_USER_ID] && rec.contract[C_USER_ID].kind != KIND_NONE && !id_ok[C_USER_ID];
    keep[C_ENDUSER_ID] = !user_ok && rec.has_contract[C_ENDUSER_ID] && rec.contract[C_ENDUSER_ID].kind != KIND_NONE;
    /* Contract values not kept are still decoded by Python (validated, NUL counted). */
    for (int i = 0; i < C_COUNT; i++) {
        if (!rec.has_contract[i] || keep[i]) continue;
        s->scratch.len = 0;
        TRY(put_json_any(s, &s->scratch, &rec.contract[i], VALIDATE, 1));
    }
    if (source < 0) {
        TRY(known_name(&c->resource_source, SOURCES, 5, &source));
        if (source < 0) {
            Span name = c->service_name_given ? c->service_name : (Span){(const uint8_t *)"unknown_service", 15};
            TRY(source_from_service_name(name, &source));
            source -= 1;
        }
    }

    /* The body. */
    Any body = {KIND_NONE};
    if (rec.has_body) TRY(parse_any(rec.body.p, rec.body.n, &body));
    int structured = body.kind == KIND_ARRAY || body.kind == KIND_KVLIST;

    /* The time, and whether it is clamped. */
    uint64_t nanos = rec.time ? rec.time : rec.observed;
    int64_t timestamp = nanos ? (int64_t)(nanos / 1000) : in->received_us;
    int clamped = timestamp - in->received_us > MAX_FUTURE_SKEW_US;

    /* Fields, from the attributes parse_record kept. Duplicate keys (after NUL repair) are
     * handed back: checked first, in a pass of their own, as writing nested key-value lists
     * below checks theirs with the same table. */
    size_t cap = keys_capacity(rec.attribute_count + 2);
    TRY(keys_begin(s, rec.attribute_count + 2));
    for (size_t a = 0; a < rec.attribute_count; a++) TRY(keys_add(s, cap, s->attributes[a].key));
    if (structured) TRY(keys_add(s, cap, (Span){(const uint8_t *)"body", 4}));
    if (clamped) TRY(keys_add(s, cap, (Span){(const uint8_t *)"activity.original_timestamp", 27}));
    s->clamped = clamped;
    Buffer *fields = &s->json;
    fields->len = 0;
    TRY(put_byte(fields, '{'));
    int first = 1;
    for (size_t a = 0; a < rec.attribute_count; a++) {
        KeyValue kv = s->attributes[a];
        if (kv.contract >= 0) continue;
        Any value = {KIND_NONE};
        if (kv.has_value) TRY(parse_any(kv.value.p, kv.value.n, &value));
        if (!first) TRY(put_byte(fields, ','));
        first = 0;
        TRY(put_json_string(s, fields, kv.key.p, kv.key.n));
        TRY(put_byte(fields, ':'));
        TRY(put_json_any(s, fields, &value, ORJSON, 1));
    }
    static const int FIELD_ORDER[] = {C_SOURCE, C_CATEGORY, C_ENTITY_TYPE, C_ENTITY_ID, C_JOB_ID, C_PROJECT_ID,
                                      C_USER_ID, C_ENDUSER_ID};
    for (int k = 0; k < C_COUNT; k++) {
        int i = FIELD_ORDER[k];
        if (!keep[i]) continue;
        if (!first) TRY(put_byte(fields, ','));
        first = 0;
        TRY(put_json_string(s, fields, (const uint8_t *)CONTRACT_NAMES[i], strlen(CONTRACT_NAMES[i])));
        TRY(put_byte(fields, ':'));
        TRY(put_json_any(s, fields, &rec.contract[i], ORJSON, 1));
    }
    if (structured) {
        if (!first) TRY(put_byte(fields, ','));
        first = 0;
        TRY(put(fields, "\"body\":", 7));
        TRY(put_json_any(s, fields, &body, ORJSON, 0));
    }
    if (clamped) {
        if (!first) TRY(put_byte(fields, ','));
        TRY(put(fields, "\"activity.original_timestamp\":\"", 31));
        TRY(put_isoformat(fields, timestamp, 0));
        TRY(put_byte(fields, '"'));
        timestamp = in->received_us;
    }
    TRY(put_byte(fields, '}'));

    /* Severity. */
    Span severity_text = {rec.severity_text.p, utf8_prefix(rec.severity_text.p, rec.severity_text.n, NAME_CHARS)};
    int level;
    TRY(severity_level(rec.severity_number, severity_text, &level));
    Span event_name = {rec.event_name.p, utf8_prefix(rec.event_name.p, rec.event_name.n, NAME_CHARS)};
    int has_trace = hex_id(rec.trace_id, 16);
    int has_span = has_trace && hex_id(rec.span_id, 8);

    /* The tuple. */
    Buffer *o = &s->out;
    TRY(put_be16(o, COPY_FIELDS));
    TRY(put_int8_field(o, in->row_id));
    TRY(put_int8_field(o, timestamp - POSTGRES_EPOCH_UNIX_US));
    TRY(put_int2_field(o, level));
    TRY(put_int2_field(o, source + 1));
    /* message */
    switch (body.kind) {
    case KIND_STRING:
        if (body.bytes.n || !event_name.n) TRY(put_text_field(s, o, body.bytes.p, body.bytes.n));
        else TRY(put_text_field(s, o, event_name.p, event_name.n));
        break;
    case KIND_NONE:
        TRY(put_text_field(s, o, event_name.p, event_name.n));
        break;
    case KIND_BYTES: {
        size_t at = o->len;
        TRY(put_be32(o, 0));
        TRY(put_base64(o, body.bytes.p, body.bytes.n));
        if (o->len == at + 4 && event_name.n) {
            o->len = at;
            TRY(put_text_field(s, o, event_name.p, event_name.n));
        } else {
            store_be32(o->data + at, (uint32_t)(o->len - at - 4));
        }
        break;
    }
    case KIND_DOUBLE: {
        double v;
        memcpy(&v, &body.scalar, sizeof v);
        size_t at = o->len;
        TRY(put_be32(o, 0));
        if (isnan(v)) TRY(put_str(o, "NaN"));
        else if (isinf(v)) TRY(put_str(o, v > 0 ? "Infinity" : "-Infinity"));
        else TRY(put_double(s, o, v, STDLIB_JSON));
        store_be32(o->data + at, (uint32_t)(o->len - at - 4));
        break;
    }
    default: {
        size_t at = o->len;
        TRY(put_be32(o, 0));
        TRY(put_json_any(s, o, &body, STDLIB_JSON, 0));
        store_be32(o->data + at, (uint32_t)(o->len - at - 4));
    }
    }
    /* fields */
    TRY(put_be32(o, (uint32_t)fields->len + 1));
    TRY(put_byte(o, 1));
    TRY(put(o, fields->data, fields->len));
    /* category */
    if (category < 0) category = 1; /* contract.DEFAULT_CATEGORY: verbose */
    TRY(put_be32(o, (uint32_t)strlen(CATEGORIES[category])));
    TRY(put_str(o, CATEGORIES[category]));
    /* entity type and ids */
    if (entity_type_ok) TRY(put_text_field(s, o, entity_type->bytes.p, entity_type->bytes.n));
    else TRY(put_null_field(o));
    if (id_ok[C_ENTITY_ID]) TRY(put_int8_field(o, ids[C_ENTITY_ID])); else TRY(put_null_field(o));
    if (user_ok) TRY(put_int8_field(o, user_id)); else TRY(put_null_field(o));
    if (id_ok[C_JOB_ID]) TRY(put_int8_field(o, ids[C_JOB_ID])); else TRY(put_null_field(o));
    if (id_ok[C_PROJECT_ID]) TRY(put_int8_field(o, ids[C_PROJECT_ID])); else TRY(put_null_field(o));
    /* trace */
    if (has_trace) TRY(put_hex_field(o, rec.trace_id)); else TRY(put_null_field(o));
    if (has_span) TRY(put_hex_field(o, rec.span_id)); else TRY(put_null_field(o));
    if (has_trace) TRY(put_int2_field(o, (int)(rec.flags & 0xFF))); else TRY(put_null_field(o));
    TRY(put_int2_field(o, rec.severity_number >= 0 && rec.severity_number <= 24 ? rec.severity_number : 0));
    if (severity_text.n) TRY(put_text_field(s, o, severity_text.p, severity_text.n));
    else TRY(put_null_field(o));
    if (c->service_name_given) TRY(put_text_field(s, o, c->service_name.p, c->service_name.n));
    else TRY(put_text_field(s, o, (const uint8_t *)"unknown_service", 15));
    if (event_name.n) TRY(put_text_field(s, o, event_name.p, event_name.n));
    else TRY(put_null_field(o));
    TRY(put_be32(o, (uint32_t)s->resource.len + 1));
    TRY(put_byte(o, 1));
    TRY(put(o, s->resource.data, s->resource.len));
    if (c->scope_name.n) TRY(put_text_field(s, o, c->scope_name.p, c->scope_name.n));
    else TRY(put_null_field(o));
    if (c->scope_version.n) TRY(put_text_field(s, o, c->scope_version.p, c->scope_version.n));
    else TRY(put_null_field(o));
    TRY(put_be32(o, 1));
    TRY(put_byte(o, 0)); /* admin_only: never for ingested records */
    return OK;
}

/* --- the request: otlp_wire.split_request's walk and limits --------------------------------- */

typedef struct {
    int64_t records, blocks, fields;
} Budget;

typedef struct {
    size_t header_bytes; /* the size of the message's fields but its children */
} Split;

/* The children `child` of the message in `message`, each passed to `visit`; the other fields
 * (the header, which map_resource and map_scope read from the whole message, skipping the
 * children) counted against the budget. Anything split_request would refuse is DECLINE. */
static int split_message(Span message, uint32_t child, int64_t *child_budget, Budget *budget, Split *split,
                         int (*visit)(void *, Span), void *arg) {
    Reader r = {message.p, message.p + message.n};
    Field f;
    int rc;
    split->header_bytes = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == child && f.wire_type == 2) {
            if (--*child_budget < 0) return DECLINE;
            if (visit) TRY(visit(arg, (Span){f.value, f.length}));
        } else {
            if (--budget->fields < 0) return DECLINE;
            split->header_bytes += (size_t)(r.p - f.tag_start);
        }
    }
    if (rc < 0) return DECLINE;
    return OK;
}

typedef struct {
    State *s;
    Budget budget;
    int64_t max_record_bytes;
    uint64_t repeated;
    /* the walk */
    Context resource, scope;
    size_t resource_header_bytes;
    int encode;            /* 0: the first walk only checks the limits */
    int64_t ordinal;       /* records not oversized so far */
    int64_t first_id, received_us;
    int64_t count, oversized, repaired, future_clamped;
    int64_t *handed_back;  /* the ordinals of the records left to the caller */
    size_t handed_back_len, handed_back_cap;
    int64_t max_output;    /* the most the tuples may take (the caller's reservation); -1: no bound */
} Walk;

static int visit_record(void *arg, Span record) {
    Walk *w = arg;
    if (!w->encode) return OK;
    if ((int64_t)record.n > w->max_record_bytes) {
        w->oversized++;
        return OK;
    }
    RowInput in = {w->received_us, w->first_id + w->ordinal};
    size_t mark = w->s->out.len;
    int status = encode_record(w->s, record.p, record.n, &w->scope, &in);
    if (status == HAND_BACK) {
        w->s->out.len = mark;
        if (w->handed_back_len == w->handed_back_cap) {
            int64_t *grown = array_grow(w->handed_back, &w->handed_back_cap, sizeof(int64_t), 16);
            if (!grown) return NO_MEMORY;
            w->handed_back = grown;
        }
        w->handed_back[w->handed_back_len++] = w->ordinal;
    } else if (status != OK) {
        return status;
    } else {
        w->count++;
        w->repaired += w->s->repaired;
        w->future_clamped += w->s->clamped;
    }
    w->ordinal++;
    /* A record's tuple holds its resource's JSON, and escapes can make that six bytes per byte
       of the request: the tuples of a small request can take hundreds of times its size. They
       never take much more than the caller has reserved (one record's tuple at most). */
    if (w->max_output >= 0 && (int64_t)w->s->out.len > w->max_output) return OVER_BUDGET;
    return OK;
}

static int visit_scope(void *arg, Span scope) {
    Walk *w = arg;
    Split split;
    int64_t records_before = w->budget.records;
    TRY(split_message(scope, 2, &w->budget.records, &w->budget, &split, NULL, NULL));
    if ((int64_t)split.header_bytes > w->max_record_bytes) return DECLINE;
    uint64_t records = (uint64_t)(records_before - w->budget.records);
    w->repeated += records * (w->resource_header_bytes + split.header_bytes);
    if (!w->encode) return OK;
    int status = map_scope(w->s, scope, &w->resource, &w->scope);
    if (status == HAND_BACK) return DECLINE;
    TRY(status);
    /* Walk the records again, now encoding; the budget was taken above. */
    int64_t unlimited = INT64_MAX;
    Budget spare = {INT64_MAX, INT64_MAX, INT64_MAX};
    return split_message(scope, 2, &unlimited, &spare, &split, visit_record, w);
}

static int visit_resource(void *arg, Span resource) {
    Walk *w = arg;
    Split split;
    /* The header first: the scopes' repeated size needs its length. */
    int64_t unlimited = INT64_MAX;
    Budget spare = {INT64_MAX, INT64_MAX, INT64_MAX};
    TRY(split_message(resource, 2, &unlimited, &spare, &split, NULL, NULL));
    if ((int64_t)split.header_bytes > w->max_record_bytes) return DECLINE;
    w->resource_header_bytes = split.header_bytes;
    if (w->encode) {
        int status = map_resource(w->s, resource, &w->resource);
        if (status == HAND_BACK) return DECLINE;
        TRY(status);
    }
    return split_message(resource, 2, &w->budget.blocks, &w->budget, &split, visit_scope, w);
}

/* encode_request(data, received_at_unix_nano, first_id, max_records, max_record_bytes,
 *                release_gil=False, max_output_bytes=-1)
 *   -> (copy_bytes, count, handed_back, (oversized, repaired, future_clamped))
 * The contract of copy_rows.encode_request_reference; raises Declined where the whole request
 * is left to it (malformed or over the limits at the outer levels, or an unusual resource or
 * scope). With release_gil the walk runs without the GIL (the bytes object it reads is
 * immutable), so that a large request can be encoded in a worker thread while the event loop
 * goes on; each float then takes the GIL back for its formatting, which costs more than it gains
 * for a request encoded on the event loop's own thread. With max_output_bytes >= 0, OverBudget
 * (bytes_so_far, records_so_far, records) is raised as soon as the tuples take more than that
 * (by at most one record's tuple): the caller reserves more, or refuses the request. */
static PyObject *encode_request(PyObject *module, PyObject *args) {
    Py_buffer data;
    long long received_at_unix_nano, first_id, max_records, max_record_bytes, max_output_bytes = -1;
    int release_gil = 0;
    if (!PyArg_ParseTuple(args, "y*LLLL|pL", &data, &received_at_unix_nano, &first_id, &max_records,
                          &max_record_bytes, &release_gil, &max_output_bytes))
        return NULL;
    if (received_at_unix_nano < 0 || max_records < 0 || max_records > (1LL << 40)) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "received_at_unix_nano and max_records must not be negative, "
                                          "nor max_records over 2**40");
        return NULL;
    }
    /* Without the GIL the walk reads the buffer while other threads run: only an immutable one. */
    if (release_gil && !PyBytes_Check(data.obj)) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_TypeError, "release_gil needs the request as bytes (immutable)");
        return NULL;
    }
    State s;
    memset(&s, 0, sizeof s);
    Walk w;
    memset(&w, 0, sizeof w);
    w.s = &s;
    w.max_record_bytes = max_record_bytes;
    w.first_id = first_id;
    w.received_us = received_at_unix_nano / 1000;
    w.max_output = max_output_bytes < 0 ? -1 : max_output_bytes;
    int64_t records_total = 0;
    PyObject *result = NULL, *handed_back = NULL;
    Span request = {data.buf, (size_t)data.len};
    Split split;
    int status;
    int64_t limit = max_records;
    if (release_gil) s.released = PyEval_SaveThread();
    /* The limits first, as split_request checks them before anything is mapped. */
    w.budget = (Budget){limit, limit, limit * 4};
    status = split_message(request, 1, &w.budget.blocks, &w.budget, &split, visit_resource, &w);
    uint64_t repeated_limit = 8 * (uint64_t)data.len;
    if (repeated_limit < 8u * 1024 * 1024) repeated_limit = 8u * 1024 * 1024;
    if (status == OK && w.repeated > repeated_limit) status = DECLINE;
    if (status == OK && s.out.cap == 0) {
        /* Room for the tuples at once, which take about the request's bytes and 130 more per
           record (the fixed-width columns), within the 3 bytes per request byte that ingest
           reserves for them (admission.NATIVE_FACTOR): growing the buffer as it fills copied it
           again and again (1 % of the receiver's CPU under load). */
        records_total = limit - w.budget.records;
        size_t records = (size_t)records_total, room = (size_t)data.len + 192 * records + 4096;
        if (room > 3 * (size_t)data.len + 4096) room = 3 * (size_t)data.len + 4096;
        if (w.max_output >= 0 && room > (size_t)w.max_output + 65536) room = (size_t)w.max_output + 65536;
        s.out.data = PyMem_RawMalloc(room);
        if (s.out.data) s.out.cap = room;
        else status = NO_MEMORY;
    }
    if (status == OK) {
        w.encode = 1;
        w.budget = (Budget){INT64_MAX, INT64_MAX, INT64_MAX};
        status = split_message(request, 1, &w.budget.blocks, &w.budget, &split, visit_resource, &w);
    }
    if (release_gil) PyEval_RestoreThread(s.released);
    s.released = NULL;
    if (status == NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == OVER_BUDGET) {
        PyObject *args = Py_BuildValue("(LLL)", (long long)s.out.len, (long long)(w.ordinal + w.oversized),
                                       (long long)records_total);
        if (args) {
            PyErr_SetObject(OverBudget, args);
            Py_DECREF(args);
        }
        goto done;
    }
    if (status != OK) {
        PyErr_SetString(Declined, "the request is left to the Python path");
        goto done;
    }
    handed_back = PyList_New((Py_ssize_t)w.handed_back_len);
    if (!handed_back) goto done;
    for (size_t i = 0; i < w.handed_back_len; i++) {
        PyObject *ordinal = PyLong_FromLongLong(w.handed_back[i]);
        if (!ordinal) goto done;
        PyList_SET_ITEM(handed_back, (Py_ssize_t)i, ordinal);
    }
    result = Py_BuildValue("(y#LO(LLL))", s.out.data ? (const char *)s.out.data : "", (Py_ssize_t)s.out.len,
                           (long long)w.count, handed_back, (long long)w.oversized, (long long)w.repaired,
                           (long long)w.future_clamped);
done:
    Py_XDECREF(handed_back);
    PyMem_RawFree(w.handed_back);
    state_free(&s);
    PyBuffer_Release(&data);
    return result;
}

/* assign_ids(tuples, ranges) -> bytes
 * COPY tuples (of COPY_COLUMNS, as encode_request writes them) whose ids, the first field, are
 * ordinals 0, 1, … relative to their request, given the ids the writer reserved: `ranges` is a
 * sequence of (first_id, count); ordinal k becomes the k-th id of the ranges taken in order.
 * ValueError when the bytes are not such tuples or an ordinal lies beyond the ranges. */
static PyObject *assign_ids(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *ranges_arg;
    if (!PyArg_ParseTuple(args, "y*O", &data, &ranges_arg)) return NULL;
    PyObject *result = NULL, *ranges = PySequence_Fast(ranges_arg, "ranges must be a sequence of (first_id, count)");
    int64_t *starts = NULL, *firsts = NULL; /* per range: its first ordinal and its first id */
    if (!ranges) goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ranges);
    starts = PyMem_Malloc((size_t)(n + 1) * sizeof(int64_t));
    firsts = PyMem_Malloc((size_t)(n + 1) * sizeof(int64_t));
    if (!starts || !firsts) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long first, count;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(ranges, i), "LL", &first, &count)) goto done;
        if (count < 0 || total > INT64_MAX - count || (count > 0 && first > INT64_MAX - (count - 1))) {
            PyErr_SetString(PyExc_ValueError, "a range of ids has a negative or too large count, or ids past int64");
            goto done;
        }
        starts[i] = total;
        firsts[i] = first;
        total += count;
    }
    starts[n] = total;
    result = PyBytes_FromStringAndSize(data.buf, data.len);
    if (!result) goto done;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(result), *end = p + data.len;
    const char *error = NULL;
    Py_ssize_t range = 0;
    while (p < end && !error) {
        if (end - p < 2 + 4 + 8 || ((p[0] << 8) | p[1]) != COPY_FIELDS || load_be32(p + 2) != 8) {
            error = "not a COPY tuple with an 8-byte id";
            break;
        }
        uint8_t *id = p + 6;
        uint64_t ordinal = 0;
        for (int i = 0; i < 8; i++) ordinal = ordinal << 8 | id[i];
        if (ordinal >= (uint64_t)total) {
            error = "a tuple's ordinal lies beyond the ranges of ids";
            break;
        }
        /* Ordinals usually rise through a request: move the cursor forward, or search again. */
        if ((int64_t)ordinal < starts[range]) range = 0;
        while ((int64_t)ordinal >= starts[range + 1]) range++;
        uint64_t v = (uint64_t)(firsts[range] + ((int64_t)ordinal - starts[range]));
        for (int i = 0; i < 8; i++) id[i] = (uint8_t)(v >> (56 - 8 * i));
        p = id + 8;
        for (int field = 1; field < COPY_FIELDS; field++) {
            if (end - p < 4) {
                error = "a COPY tuple runs past the end";
                break;
            }
            uint32_t length = load_be32(p);
            p += 4;
            if (length == 0xFFFFFFFFu) continue;
            if (length > (uint64_t)(end - p)) {
                error = "a COPY tuple runs past the end";
                break;
            }
            p += length;
        }
    }
    if (error) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, error);
    }
done:
    PyMem_Free(starts);
    PyMem_Free(firsts);
    Py_XDECREF(ranges);
    PyBuffer_Release(&data);
    return result;
}

/* decode_tuples(tuples, json_limit=-1) -> list of tuples
 * COPY tuples of COPY_COLUMNS read back into Python values, one tuple per row in column order:
 * int8 and int2 as int, text as str, jsonb as the JSON text's bytes (without the version byte),
 * bool as bool, NULL as None; the timestamp as microseconds since 2000-01-01. With a json_limit,
 * each tuple has one more value: the entry's JSON as ActivityRow.json() writes it when that is at
 * most json_limit bytes long, else None. What the writer hands the live tail for the rows it
 * committed (collector/copy_rows.py live_rows). ValueError when the bytes are not such tuples. */
enum { COL_INT8, COL_INT2, COL_TEXT, COL_JSONB, COL_BOOL };
static const int COLUMN_TYPES[COPY_FIELDS] = {
    COL_INT8, COL_INT8, COL_INT2, COL_INT2, COL_TEXT, COL_JSONB, COL_TEXT, COL_TEXT, COL_INT8, COL_INT8,
    COL_INT8, COL_INT8, COL_TEXT, COL_TEXT, COL_INT2, COL_INT2, COL_TEXT, COL_TEXT, COL_TEXT, COL_JSONB,
    COL_TEXT, COL_TEXT, COL_BOOL};

static PyObject *column_value(int type, const uint8_t *p, uint32_t length) {
    switch (type) {
    case COL_INT8: {
        if (length != 8) break;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | p[i];
        return PyLong_FromLongLong((long long)(int64_t)v);
    }
    case COL_INT2:
        if (length != 2) break;
        return PyLong_FromLong((long)(int16_t)(uint16_t)(p[0] << 8 | p[1]));
    case COL_TEXT:
        return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)length, "strict");
    case COL_JSONB:
        if (length < 1 || p[0] != 1) break;
        return PyBytes_FromStringAndSize((const char *)p + 1, (Py_ssize_t)length - 1);
    case COL_BOOL:
        if (length != 1) break;
        return PyBool_FromLong(p[0]);
    }
    PyErr_SetString(PyExc_ValueError, "a COPY value of the wrong size for its column");
    return NULL;
}

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};
static const char *const ENTRY_KEYS[COPY_FIELDS] = {
    "id", "timestamp", "level", "source", "message", "fields", "category", "entity_type", "entity_id", "user_id",
    "job_id", "project_id", "trace_id", "span_id", "trace_flags", "severity_number", "severity_text",
    "service_name", "event_name", "resource", "scope_name", "scope_version", "admin_only"};
/* ActivityRow.to_dict's key order, by column. */
static const int ENTRY_ORDER[COPY_FIELDS] = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};

/* The entry's JSON as collector.model.dumps(row.to_dict()) writes it (orjson), from its column
 * values (NULL: length -1); NO_MEMORY, or DECLINE when Python must write it (a time before 1970,
 * an unknown level or source). */
static int entry_json(State *s, Buffer *b, const uint8_t *const *values, const int64_t *lengths) {
    b->len = 0;
    TRY(put_byte(b, '{'));
    for (int k = 0; k < COPY_FIELDS; k++) {
        int column = ENTRY_ORDER[k];
        const uint8_t *v = values[column];
        int64_t n = lengths[column];
        if (k) TRY(put_byte(b, ','));
        TRY(put_byte(b, '"'));
        TRY(put_str(b, ENTRY_KEYS[column]));
        TRY(put(b, "\":", 2));
        if (n < 0) {
            TRY(put(b, "null", 4));
            continue;
        }
        switch (COLUMN_TYPES[column]) {
        case COL_INT8: {
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = x << 8 | v[i];
            if (column == 1) { /* the timestamp, in microseconds since 2000; years 1970 to 9999 */
                if ((int64_t)x < -POSTGRES_EPOCH_UNIX_US || (int64_t)x >= 252455616000000000LL) return DECLINE;
                TRY(put_byte(b, '"'));
                TRY(put_isoformat(b, (int64_t)x + POSTGRES_EPOCH_UNIX_US, 1));
                TRY(put_byte(b, '"'));
            } else {
                TRY(put_int64_text(b, (int64_t)x));
            }
            break;
        }
        case COL_INT2: {
            int value = (int16_t)(uint16_t)(v[0] << 8 | v[1]);
            if (column == 2 || column == 3) {
                if (value < 1 || value > (column == 2 ? 4 : 5)) return DECLINE;
                TRY(put_byte(b, '"'));
                TRY(put_str(b, column == 2 ? LEVEL_NAMES[value - 1] : SOURCES[value - 1]));
                TRY(put_byte(b, '"'));
            } else {
                TRY(put_int64_text(b, value));
            }
            break;
        }
        case COL_TEXT: TRY(put_json_string(s, b, v, (size_t)n)); break;
        case COL_JSONB: TRY(put(b, v + 1, (size_t)n - 1)); break;
        case COL_BOOL: TRY(v[0] ? put(b, "true", 4) : put(b, "false", 5)); break;
        }
    }
    return put_byte(b, '}');
}

static PyObject *decode_tuples(PyObject *module, PyObject *args) {
    Py_buffer data;
    Py_ssize_t json_limit = -1;
    if (!PyArg_ParseTuple(args, "y*|n", &data, &json_limit)) return NULL;
    PyObject *rows = PyList_New(0);
    const uint8_t *p = data.buf, *end = p + data.len;
    State s;
    memset(&s, 0, sizeof s);
    while (rows && p < end) {
        if (end - p < 2 || ((p[0] << 8) | p[1]) != COPY_FIELDS) {
            PyErr_SetString(PyExc_ValueError, "not a COPY tuple of the activity_logs columns");
            Py_CLEAR(rows);
            break;
        }
        p += 2;
        PyObject *row = PyTuple_New(json_limit >= 0 ? COPY_FIELDS + 1 : COPY_FIELDS);
        const uint8_t *values[COPY_FIELDS];
        int64_t lengths[COPY_FIELDS];
        for (int column = 0; row && column < COPY_FIELDS; column++) {
            PyObject *value = NULL;
            if (end - p < 4) {
                PyErr_SetString(PyExc_ValueError, "a COPY tuple runs past the end");
            } else {
                uint32_t length = load_be32(p);
                p += 4;
                values[column] = p;
                lengths[column] = length == 0xFFFFFFFFu ? -1 : (int64_t)length;
                if (length == 0xFFFFFFFFu) {
                    value = Py_NewRef(Py_None);
                } else if (length > (uint64_t)(end - p)) {
                    PyErr_SetString(PyExc_ValueError, "a COPY tuple runs past the end");
                } else {
                    value = column_value(COLUMN_TYPES[column], p, length);
                    p += length;
                }
            }
            if (!value) {
                Py_CLEAR(row);
                break;
            }
            PyTuple_SET_ITEM(row, column, value);
        }
        if (row && json_limit >= 0) {
            /* Every value was read, and checked, above. */
            s.repaired = 0;
            int status = entry_json(&s, &s.json, values, lengths);
            if (status == OK && s.repaired) status = DECLINE; /* a NUL in text: orjson escapes it */
            PyObject *json = NULL;
            if (status == NO_MEMORY) {
                PyErr_NoMemory();
            } else if (status != OK || s.json.len > (size_t)json_limit) {
                json = Py_NewRef(Py_None);
            } else {
                json = PyBytes_FromStringAndSize((const char *)s.json.data, (Py_ssize_t)s.json.len);
            }
            if (!json) Py_CLEAR(row);
            else PyTuple_SET_ITEM(row, COPY_FIELDS, json);
        }
        if (!row || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(rows);
            break;
        }
        Py_DECREF(row);
    }
    state_free(&s);
    PyBuffer_Release(&data);
    return rows;
}


/* tuple_keys(tuples, max_keys) -> [(bucket, where, key, type)]
 * The attribute keys of COPY tuples for the key catalogue (collector/key_catalogue.py is the
 * reference): the top-level keys of each tuple's fields (where 0) and resource (where 1) JSON,
 * with the JSON type of their value ("string", "int", "float", "bool", "null", "map", "array"),
 * distinct, in the order first met, at most max_keys of them. Keys that are empty, longer than
 * MAX_CATALOGUE_KEY bytes or written with JSON escapes are left out. `bucket` says who may see
 * the key: -1 admins only (the row is admin_only, or has a user or job but no project), the
 * row's project_id, or 0 (a row of no project, user or job: every role's scope). The JSON is
 * our own encoders' (no whitespace), but the walk is bounded by the bytes whatever they hold:
 * it stops at the first thing it does not expect. ValueError when the bytes are not tuples. */
#define MAX_CATALOGUE_KEY 128
enum { KT_STRING, KT_INT, KT_FLOAT, KT_BOOL, KT_NULL, KT_MAP, KT_ARRAY };
static const char *const KEY_TYPES[] = {"string", "int", "float", "bool", "null", "map", "array"};

typedef struct {
    int64_t bucket;
    int where, type;
    Span key;
} CatalogueKey;

typedef struct {
    CatalogueKey *items;
    size_t count, max;
    int32_t *slots; /* open addressing: index + 1 into items, 0 empty */
    size_t cap;
} KeySet;

/* Past a JSON string (p at its opening quote); NULL when it does not end. memchr finds the
 * quotes: a quote preceded by an odd run of backslashes is escaped (the run cannot start before
 * `from`, which follows the opening quote or an escaped quote). `escaped` (may be NULL) is set
 * when the string holds any backslash. */
static const uint8_t *json_skip_string(const uint8_t *p, const uint8_t *end, int *escaped) {
    const uint8_t *from = p + 1;
    for (;;) {
        if (from > end) return NULL;
        const uint8_t *quote = memchr(from, '"', (size_t)(end - from));
        if (!quote) return NULL;
        const uint8_t *run = quote;
        while (run > from && run[-1] == '\\') run--;
        if (escaped && !*escaped && memchr(p + 1, '\\', (size_t)(quote - p - 1))) *escaped = 1;
        if (((quote - run) & 1) == 0) return quote + 1;
        from = quote + 1;
    }
}

static const uint8_t *json_skip_value(const uint8_t *p, const uint8_t *end, int *type) {
    if (p >= end) return NULL;
    switch (*p) {
    case '"': *type = KT_STRING; return json_skip_string(p, end, NULL);
    case '{':
    case '[': {
        *type = *p == '{' ? KT_MAP : KT_ARRAY;
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = json_skip_string(p, end, NULL);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    case 't': *type = KT_BOOL; return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f': *type = KT_BOOL; return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case 'n': *type = KT_NULL; return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
    }
    if (*p != '-' && (*p < '0' || *p > '9')) return NULL;
    *type = KT_INT;
    for (; p < end; p++) {
        if (*p == '.' || *p == 'e' || *p == 'E') *type = KT_FLOAT;
        else if (*p != '-' && *p != '+' && (*p < '0' || *p > '9')) break;
    }
    return p;
}

/* The catalogue's keys are stored text (NULs already repaired), so unlike key_hash this one need
   not treat NUL as U+FFFD: it mixes eight bytes at a time, a fifth of the multiplications of a
   byte-wise hash for the usual 10-30 byte key. */
static uint64_t catalogue_key_hash(Span key) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)key.n;
    size_t i = 0;
    for (; i + 8 <= key.n; i += 8) {
        uint64_t word;
        memcpy(&word, key.p + i, 8);
        h = (h ^ word) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    uint64_t tail = 0;
    if (i < key.n) {
        if (key.n >= 8) {
            memcpy(&tail, key.p + key.n - 8, 8); /* the last eight bytes, overlapping the words */
        } else {
            for (size_t j = 0; j < key.n; j++) tail |= (uint64_t)key.p[j] << (8 * j);
        }
    }
    h = (h ^ tail) * 0x94D049BB133111EBULL;
    return mix64(h ^ (h >> 29) ^ hash_seed);
}

static int keyset_add(KeySet *set, int64_t bucket, int where, int type, Span key) {
    if (set->count >= set->max) return OK;
    uint64_t h = catalogue_key_hash(key) ^ ((uint64_t)bucket * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(where * 8 + type);
    size_t mask = set->cap - 1, i = h & mask, probes = 0;
    while (set->slots[i]) {
        const CatalogueKey *k = &set->items[set->slots[i] - 1];
        if (k->bucket == bucket && k->where == where && k->type == type && k->key.n == key.n
            && memcmp(k->key.p, key.p, key.n) == 0)
            return OK;
        /* As keys_add: a walk this long means crafted keys; the catalogue, a convenience, leaves
           this one out rather than have every occurrence of such keys walk up to the whole set. */
        if (++probes > MAX_KEY_PROBES) return OK;
        i = (i + 1) & mask;
    }
    set->items[set->count] = (CatalogueKey){bucket, where, type, key};
    set->slots[i] = (int32_t)++set->count;
    return OK;
}

/* The top-level keys of one JSON object into `set`, in order. */
static void object_keys(KeySet *set, const uint8_t *p, size_t n, int64_t bucket, int where) {
    const uint8_t *end = p + n;
    if (p >= end || *p != '{') return;
    p++;
    while (p < end && *p == '"') {
        int escaped = 0, type;
        const uint8_t *after = json_skip_string(p, end, &escaped);
        if (!after) return;
        Span key = {p + 1, (size_t)(after - p - 2)};
        p = after;
        if (p >= end || *p != ':') return;
        p = json_skip_value(p + 1, end, &type);
        if (!p) return;
        if (!escaped && key.n > 0 && key.n <= MAX_CATALOGUE_KEY) keyset_add(set, bucket, where, type, key);
        if (p >= end || *p != ',') return;
        p++;
    }
}

static PyObject *tuple_keys(PyObject *module, PyObject *args) {
    Py_buffer data;
    Py_ssize_t max_keys;
    if (!PyArg_ParseTuple(args, "y*n", &data, &max_keys)) return NULL;
    if (max_keys < 0 || max_keys > 1 << 20) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "max_keys must be between 0 and 2**20");
        return NULL;
    }
    KeySet set = {0};
    set.max = (size_t)max_keys;
    set.cap = 16;
    while (set.cap < set.max * 2) set.cap *= 2;
    set.items = PyMem_Malloc((set.max ? set.max : 1) * sizeof(CatalogueKey));
    set.slots = PyMem_Calloc(set.cap, sizeof(int32_t));
    PyObject *result = NULL;
    if (!set.items || !set.slots) {
        PyErr_NoMemory();
        goto done;
    }
    const uint8_t *p = data.buf, *end = p + data.len;
    Span last_resource = {NULL, 0};
    int64_t last_bucket = 0;
    while (p < end) {
        if (end - p < 2 || ((p[0] << 8) | p[1]) != COPY_FIELDS) {
            PyErr_SetString(PyExc_ValueError, "not a COPY tuple of the activity_logs columns");
            goto done;
        }
        p += 2;
        const uint8_t *values[COPY_FIELDS];
        int64_t lengths[COPY_FIELDS];
        for (int column = 0; column < COPY_FIELDS; column++) {
            if (end - p < 4) {
                PyErr_SetString(PyExc_ValueError, "a COPY tuple runs past the end");
                goto done;
            }
            uint32_t length = load_be32(p);
            p += 4;
            values[column] = p;
            lengths[column] = length == 0xFFFFFFFFu ? -1 : (int64_t)length;
            if (length != 0xFFFFFFFFu) {
                if (length > (uint64_t)(end - p)) {
                    PyErr_SetString(PyExc_ValueError, "a COPY tuple runs past the end");
                    goto done;
                }
                p += length;
            }
        }
        /* Columns (copy_rows.COPY_COLUMNS): 5 fields, 9 user_id, 10 job_id, 11 project_id,
         * 19 resource, 22 admin_only. */
        int64_t bucket = -1;
        int admin_only = lengths[22] == 1 && values[22][0];
        if (!admin_only) {
            if (lengths[11] == 8) {
                uint64_t v = 0;
                for (int i = 0; i < 8; i++) v = v << 8 | values[11][i];
                bucket = (int64_t)v > 0 ? (int64_t)v : -1;
            } else if (lengths[11] < 0 && lengths[9] < 0 && lengths[10] < 0) {
                bucket = 0;
            }
        }
        if (lengths[5] >= 1 && values[5][0] == 1) object_keys(&set, values[5] + 1, (size_t)lengths[5] - 1, bucket, 0);
        if (lengths[19] >= 1 && values[19][0] == 1) {
            Span resource = {values[19] + 1, (size_t)lengths[19] - 1};
            /* Rows of one OTLP resource repeat its JSON: walk it once per run of them. */
            if (!(last_resource.p && bucket == last_bucket && resource.n == last_resource.n
                  && memcmp(resource.p, last_resource.p, resource.n) == 0))
                object_keys(&set, resource.p, resource.n, bucket, 1);
            last_resource = resource;
            last_bucket = bucket;
        }
    }
    result = PyList_New(0);
    for (size_t i = 0; result && i < set.count; i++) {
        const CatalogueKey *k = &set.items[i];
        PyObject *key = PyUnicode_DecodeUTF8((const char *)k->key.p, (Py_ssize_t)k->key.n, "strict");
        if (!key) { /* not our encoders' text: left out */
            PyErr_Clear();
            continue;
        }
        PyObject *item = Py_BuildValue("(LiNs)", (long long)k->bucket, k->where, key, KEY_TYPES[k->type]);
        if (!item || PyList_Append(result, item) < 0) Py_CLEAR(result);
        Py_XDECREF(item);
    }
done:
    PyMem_Free(set.items);
    PyMem_Free(set.slots);
    PyBuffer_Release(&data);
    return result;
}

/* hash_seed([seed]) -> int: the hash tables' seed; given one, it is set (the tests craft keys that
 * collide under a seed they know). */
static PyObject *hash_seed_function(PyObject *module, PyObject *args) {
    unsigned long long seed;
    if (PyTuple_GET_SIZE(args) > 0) {
        if (!PyArg_ParseTuple(args, "K", &seed)) return NULL;
        hash_seed = seed;
    }
    return PyLong_FromUnsignedLongLong(hash_seed);
}

static PyMethodDef METHODS[] = {
    {"hash_seed", hash_seed_function, METH_VARARGS,
     "hash_seed([seed]) -> int: the seed of the duplicate-key and catalogue tables' hashes (set when given)"},
    {"encode_request", encode_request, METH_VARARGS,
     "encode_request(data, received_at_unix_nano, first_id, max_records, max_record_bytes, release_gil=False, "
     "max_output_bytes=-1)\n"
     "-> (copy_bytes, count, handed_back, (oversized, repaired, future_clamped))"},
    {"decode_tuples", decode_tuples, METH_VARARGS,
     "decode_tuples(tuples, json_limit=-1) -> [tuple of column values (, entry JSON)]: COPY tuples read back"},
    {"tuple_keys", tuple_keys, METH_VARARGS,
     "tuple_keys(tuples, max_keys) -> [(bucket, where, key, type)]: the attribute keys for the key catalogue"},
    {"assign_ids", assign_ids, METH_VARARGS,
     "assign_ids(tuples, ranges) -> bytes: COPY tuples with their ordinals replaced by ids"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "collector._fastpath",
                                    "OTLP log requests straight to binary COPY tuples.", -1, METHODS};

/* A random seed from os.urandom. */
static int seed_from_urandom(void) {
    PyObject *os = PyImport_ImportModule("os");
    if (!os) return -1;
    PyObject *bytes = PyObject_CallMethod(os, "urandom", "i", 8);
    Py_DECREF(os);
    if (!bytes) return -1;
    if (!PyBytes_Check(bytes) || PyBytes_GET_SIZE(bytes) != 8) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_RuntimeError, "os.urandom(8) did not give 8 bytes");
        return -1;
    }
    memcpy(&hash_seed, PyBytes_AS_STRING(bytes), 8);
    Py_DECREF(bytes);
    return 0;
}

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (seed_from_urandom() < 0) return NULL;
    PyObject *module = PyModule_Create(&MODULE);
    if (!module) return NULL;
    Declined = PyErr_NewException("collector._fastpath.Declined", PyExc_ValueError, NULL);
    /* collector/copy_rows.py uses this extension only when its NATIVE_VERSION is this. */
    if (PyModule_AddIntConstant(module, "VERSION", 7) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    if (!Declined || PyModule_AddObjectRef(module, "Declined", Declined) < 0) {
        Py_CLEAR(Declined);
        Py_DECREF(module);
        return NULL;
    }
    OverBudget = PyErr_NewException("collector._fastpath.OverBudget", PyExc_Exception, NULL);
    if (!OverBudget || PyModule_AddObjectRef(module, "OverBudget", OverBudget) < 0) {
        Py_CLEAR(OverBudget);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
