/* Canonical event lines -> Arrow column buffers, in one pass over each line.
 *
 * The fast path of canonical ingest (fastpath.py) needs every line of a block as columns of a
 * fixed schema. Arrow's JSON reader does that at ~120 MB/s a core and infers a struct for
 * `attributes`; this scanner knows the schema and the map, and reaches several times that.
 *
 * It is deliberately narrow: a line is accepted only when it is one flat JSON object whose keys
 * are all known, each once, whose values are null or of the field's kind (string; integer that
 * fits int64; finite number; for the map, an object of string values, each key once). Anything
 * else (true/false, nested values, an unknown or repeated key, an escape in a key, a lone
 * surrogate, a control character, a number out of range) marks the line "not mine" and leaves
 * its row null: the per-line path (pydantic) decides and explains those. So the scanner never
 * has to agree with pydantic on a hard case, only on plain values. UTF-8 is checked by the
 * caller for the whole block, as it is for Arrow's reader.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { KIND_STRING = 's', KIND_INT = 'i', KIND_DOUBLE = 'd', KIND_MAP = 'm' };
#define MAX_FIELDS 64

typedef struct {
    char *data;
    size_t len, cap;
} Bytes;

static int bytes_reserve(Bytes *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

typedef struct {
    const char *name;
    Py_ssize_t name_len;
    char kind;
    uint8_t *validity; /* one bit a row */
    int64_t null_count;
    int64_t *ints;     /* KIND_INT */
    double *doubles;   /* KIND_DOUBLE */
    int32_t *offsets;  /* KIND_STRING: n + 1; KIND_MAP: entry offsets, n + 1 */
    Py_ssize_t filled; /* offsets[0..filled] are written (the rest when a later row needs them) */
    Bytes data;        /* KIND_STRING */
    /* KIND_MAP: keys and values as two string arrays */
    Bytes key_offsets, key_data, value_offsets, value_data;
    int32_t entries;
} Column;

typedef struct {
    const unsigned char *p, *end;
} Cursor;

static inline void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static inline int hexval(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int read_hex4(Cursor *c, unsigned *out) {
    if (c->end - c->p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0) return -1;
        v = (v << 4) | (unsigned)h;
    }
    c->p += 4;
    *out = v;
    return 0;
}

/* The first quote, backslash or control character in [p, end), or end: what ends a run of
 * string bytes that can be copied as they are. 16 bytes a step where SSE2 is there (x86-64
 * always has it); most of an event's bytes are such runs. */
static inline const unsigned char *string_run_end(const unsigned char *p, const unsigned char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(v, control), control));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
    return p;
}

/* A JSON string (the cursor after its opening quote) appended to `out`, unescaped.
 * Returns 0, or -1 for anything the per-line path must decide, -2 when out of memory. */
static int read_string(Cursor *c, Bytes *out) {
    for (;;) {
        const unsigned char *run = c->p;
        c->p = string_run_end(c->p, c->end);
        size_t n = (size_t)(c->p - run);
        if (n) {
            if (bytes_reserve(out, n)) return -2;
            memcpy(out->data + out->len, run, n);
            out->len += n;
        }
        if (c->p >= c->end || *c->p < 0x20) return -1;
        if (*c->p == '"') {
            c->p++;
            return 0;
        }
        c->p++; /* backslash */
        if (c->p >= c->end) return -1;
        unsigned char e = *c->p++;
        char ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned cp;
            if (read_hex4(c, &cp)) return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') return -1;
                c->p += 2;
                if (read_hex4(c, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1; /* a lone low surrogate is not UTF-8 */
            }
            if (bytes_reserve(out, 4)) return -2;
            char *d = out->data + out->len;
            if (cp < 0x80) {
                d[0] = (char)cp;
                out->len += 1;
            } else if (cp < 0x800) {
                d[0] = (char)(0xC0 | (cp >> 6));
                d[1] = (char)(0x80 | (cp & 0x3F));
                out->len += 2;
            } else if (cp < 0x10000) {
                d[0] = (char)(0xE0 | (cp >> 12));
                d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                d[2] = (char)(0x80 | (cp & 0x3F));
                out->len += 3;
            } else {
                d[0] = (char)(0xF0 | (cp >> 18));
                d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                d[3] = (char)(0x80 | (cp & 0x3F));
                out->len += 4;
            }
            continue;
        }
        default: return -1;
        }
        if (bytes_reserve(out, 1)) return -2;
        out->data[out->len++] = ch;
    }
}

/* The span of a JSON number at the cursor (grammar checked); sets *integral. */
static int scan_number(Cursor *c, const unsigned char **start, int *integral) {
    const unsigned char *p = c->p;
    *start = p;
    *integral = 1;
    if (p < c->end && *p == '-') p++;
    if (p >= c->end) return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < c->end && *p >= '0' && *p <= '9') p++;
    } else {
        return -1;
    }
    if (p < c->end && *p == '.') {
        *integral = 0;
        p++;
        if (p >= c->end || *p < '0' || *p > '9') return -1;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        *integral = 0;
        p++;
        if (p < c->end && (*p == '+' || *p == '-')) p++;
        if (p >= c->end || *p < '0' || *p > '9') return -1;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
    }
    c->p = p;
    return 0;
}

static int parse_int(const unsigned char *s, const unsigned char *e, int64_t *out) {
    int negative = *s == '-';
    if (negative) s++;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1) return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)v;
    }
    return 0;
}

static int parse_double(const unsigned char *s, const unsigned char *e, double *out) {
    char local[512];
    size_t n = (size_t)(e - s);
    if (n >= sizeof local) return -1;
    memcpy(local, s, n);
    local[n] = 0;
    errno = 0;
    char *stop;
    double v = strtod(local, &stop);
    if (stop != local + n || !isfinite(v)) return -1;
    *out = v; /* an underflow to 0 or a subnormal is what Python's float() gives too */
    return 0;
}

static inline void set_valid(uint8_t *validity, Py_ssize_t row) {
    validity[row >> 3] |= (uint8_t)(1u << (row & 7));
}

static inline void clear_valid(uint8_t *validity, Py_ssize_t row) {
    validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
}

/* After an object member: 1 when another follows (cursor at its key), 0 when the object
 * closes (cursor past '}'), -1 for anything else. */
static inline int next_member(Cursor *c) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        skip_ws(c);
        return 1;
    }
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    return -1;
}

/* The map's value (cursor at '{'): string keys and values. */
static int read_map(Cursor *c, Column *col) {
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    int32_t first = col->entries;
    for (;;) {
        if (c->p >= c->end || *c->p != '"') return -1;
        c->p++;
        size_t key_start = col->key_data.len;
        int rc = read_string(c, &col->key_data);
        if (rc) return rc;
        size_t key_len = col->key_data.len - key_start;
        /* a key repeated within this map: pydantic keeps the last, Arrow an error; decide there */
        const int32_t *koffs = (const int32_t *)col->key_offsets.data;
        for (int32_t i = first; i < col->entries; i++) {
            if ((size_t)(koffs[i + 1] - koffs[i]) == key_len &&
                memcmp(col->key_data.data + koffs[i], col->key_data.data + key_start, key_len) == 0)
                return -1;
        }
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return -1;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return -1;
        c->p++;
        rc = read_string(c, &col->value_data);
        if (rc) return rc;
        if (col->key_data.len > INT32_MAX || col->value_data.len > INT32_MAX) return -2;
        if (bytes_reserve(&col->key_offsets, 4) || bytes_reserve(&col->value_offsets, 4))
            return -2;
        col->entries++;
        ((int32_t *)col->key_offsets.data)[col->entries] = (int32_t)col->key_data.len;
        ((int32_t *)col->value_offsets.data)[col->entries] = (int32_t)col->value_data.len;
        col->key_offsets.len += 4;
        col->value_offsets.len += 4;
        int more = next_member(c);
        if (more <= 0) return more;
    }
}

/* Field names by a hash of their length and end bytes: an open-addressing table of column
 * index + 1 (0: empty). */
#define NAME_SLOTS 256
typedef struct {
    uint8_t slot[NAME_SLOTS];
} NameTable;

static inline unsigned name_hash(const char *k, size_t len) {
    return len ? (unsigned)(len * 131u + (unsigned char)k[0] * 31u + (unsigned char)k[len - 1])
               : 0u;
}

static void name_table_build(NameTable *t, const Column *cols, int ncols) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < ncols; i++) {
        unsigned h = name_hash(cols[i].name, (size_t)cols[i].name_len);
        while (t->slot[h % NAME_SLOTS]) h++;
        t->slot[h % NAME_SLOTS] = (uint8_t)(i + 1);
    }
}

static inline int same_name(const Column *col, const char *k, size_t len) {
    return (size_t)col->name_len == len && memcmp(col->name, k, len) == 0;
}

/* Find the field named [k, k+len): the next one in schema order first (producers write keys
 * in a fixed order), else through the table. */
static inline int find_field(const Column *cols, const NameTable *t, int guess, const char *k,
                             size_t len) {
    if (same_name(&cols[guess], k, len)) return guess;
    for (unsigned h = name_hash(k, len);; h++) {
        int i = t->slot[h % NAME_SLOTS] - 1;
        if (i < 0) return -1;
        if (same_name(&cols[i], k, len)) return i;
    }
}

/* Write the offsets of the rows before `row` that had no value, so offsets[row] is where row
 * `row` starts: a column does work only in rows that have it, not in every row. */
static inline void fill_to(Column *col, Py_ssize_t row) {
    int32_t at = col->kind == KIND_MAP ? col->entries : (int32_t)col->data.len;
    for (Py_ssize_t i = col->filled + 1; i <= row; i++) col->offsets[i] = at;
    if (col->filled < row) col->filled = row;
}

/* One line into row `row`. Returns 0, -1 (not mine) or -2 (out of memory); `*touched` gets
 * the columns it may have written to. */
static int scan_line(Cursor *c, Column *cols, int ncols, const NameTable *names, Py_ssize_t row,
                     uint64_t *touched) {
    uint64_t seen = 0;
    *touched = 0;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return -1;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        goto done;
    }
    int guess = 0;
    for (;;) {
        if (c->p >= c->end || *c->p != '"') return -1;
        c->p++;
        /* keys are plain names: a key with an escape is left to the per-line path */
        const unsigned char *k = c->p;
        c->p = string_run_end(c->p, c->end);
        if (c->p >= c->end || *c->p != '"') return -1;
        size_t klen = (size_t)(c->p - k);
        c->p++;
        int f = find_field(cols, names, guess, (const char *)k, klen);
        if (f < 0 || (seen >> f) & 1) return -1;
        seen |= 1ull << f;
        guess = f + 1 < ncols ? f + 1 : 0;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return -1;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        Column *col = &cols[f];
        if (col->offsets) fill_to(col, row); /* before it counts as touched: rollback reads it */
        *touched = seen;
        unsigned char ch = *c->p;
        if (ch == 'n') {
            if (c->end - c->p < 4 || memcmp(c->p, "null", 4) != 0) return -1;
            if (col->kind == KIND_MAP) return -1; /* explicit null map: pydantic explains */
            c->p += 4;
        } else if (col->kind == KIND_STRING) {
            if (ch != '"') return -1;
            c->p++;
            int rc = read_string(c, &col->data);
            if (rc) return rc;
            if (col->data.len > INT32_MAX) return -2;
            col->offsets[row + 1] = (int32_t)col->data.len;
            col->filled = row + 1;
            set_valid(col->validity, row);
        } else if (col->kind == KIND_MAP) {
            if (ch != '{') return -1;
            int rc = read_map(c, col);
            if (rc) return rc;
            col->offsets[row + 1] = col->entries;
            col->filled = row + 1;
        } else {
            const unsigned char *start;
            int integral;
            if (scan_number(c, &start, &integral)) return -1;
            if (col->kind == KIND_INT) {
                if (!integral || parse_int(start, c->p, &col->ints[row])) return -1;
            } else if (parse_double(start, c->p, &col->doubles[row])) {
                return -1;
            }
            set_valid(col->validity, row);
        }
        int more = next_member(c);
        if (more < 0) return -1;
        if (!more) break;
    }
done:
    skip_ws(c);
    return c->p == c->end ? 0 : -1;
}

static void free_columns(Column *cols, int ncols) {
    for (int i = 0; i < ncols; i++) {
        free(cols[i].validity);
        free(cols[i].ints);
        free(cols[i].doubles);
        free(cols[i].offsets);
        free(cols[i].data.data);
        free(cols[i].key_offsets.data);
        free(cols[i].key_data.data);
        free(cols[i].value_offsets.data);
        free(cols[i].value_data.data);
    }
}

/* A buffer the scanner filled, handed to Python without a copy: it frees the memory when the
 * last Arrow array over it goes. */
typedef struct {
    PyObject_HEAD
    char *data;
    Py_ssize_t len;
} OwnedBuffer;

static void owned_dealloc(OwnedBuffer *self) {
    free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int owned_getbuffer(OwnedBuffer *self, Py_buffer *view, int flags) {
    static char empty[1];
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data ? self->data : empty, self->len,
                             0, flags);
}

static PyBufferProcs owned_as_buffer = {(getbufferproc)owned_getbuffer, NULL};

static PyTypeObject OwnedBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_scan.OwnedBuffer",
    .tp_basicsize = sizeof(OwnedBuffer),
    .tp_dealloc = (destructor)owned_dealloc,
    .tp_as_buffer = &owned_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory filled by the scanner, freed with the last reference.",
};

/* Hand `*data` (len bytes used) to Python: shrunk to its length, owned by the new object. On
 * success *data is NULL (no longer ours to free). */
static PyObject *own(void *data_ptr, size_t len) {
    char **data = (char **)data_ptr;
    OwnedBuffer *buffer = PyObject_New(OwnedBuffer, &OwnedBufferType);
    if (!buffer) return NULL;
    char *fitted = *data && len ? realloc(*data, len) : NULL;
    if (fitted) {
        buffer->data = fitted;
    } else {
        buffer->data = len ? *data : NULL;
        if (!len) free(*data);
    }
    buffer->len = (Py_ssize_t)len;
    *data = NULL;
    return (PyObject *)buffer;
}

PyDoc_STRVAR(scan_doc,
    "scan(text, starts, ends, names, kinds) -> (mine, columns)\n\n"
    "Each line text[starts[i]:ends[i]] (int64 buffers) scanned into columns. `names` is a\n"
    "tuple of field names, `kinds` a bytes of one letter each: s string, i int64, d float64,\n"
    "m map<string, string>. `mine` holds a byte a line: 1 scanned, 0 left to the per-line\n"
    "path (its row is null). Each column is a tuple: s (validity, offsets, data, nulls),\n"
    "i/d (validity, values, nulls), m (offsets, key offsets, keys, value offsets, values).\n"
    "Every part is a buffer handed over without a copy, freed with its last reference.");

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer text, starts_buf, ends_buf;
    PyObject *names;
    const char *kinds;
    Py_ssize_t nkinds;
    if (!PyArg_ParseTuple(args, "y*y*y*O!y#", &text, &starts_buf, &ends_buf, &PyTuple_Type,
                          &names, &kinds, &nkinds))
        return NULL;
    PyObject *result = NULL;
    Column cols[MAX_FIELDS];
    int ncols = (int)PyTuple_GET_SIZE(names);
    memset(cols, 0, sizeof cols);
    uint8_t *mine = NULL;
    Py_ssize_t n = starts_buf.len / 8;
    if (ncols != nkinds || ncols < 1 || ncols > MAX_FIELDS || ends_buf.len != starts_buf.len) {
        PyErr_SetString(PyExc_ValueError, "names/kinds/starts/ends do not match");
        goto out;
    }
    const int64_t *starts = starts_buf.buf, *ends = ends_buf.buf;
    size_t bitmap = (size_t)(n + 7) / 8;
    mine = malloc((size_t)n + 1);
    if (!mine) goto nomem;
    for (int i = 0; i < ncols; i++) {
        Column *col = &cols[i];
        col->name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &col->name_len);
        if (!col->name) goto out;
        col->kind = kinds[i];
        switch (col->kind) {
        case KIND_STRING:
            col->validity = calloc(bitmap + 1, 1);
            col->offsets = calloc((size_t)n + 1, sizeof(int32_t));
            if (!col->validity || !col->offsets || bytes_reserve(&col->data, (size_t)n * 16))
                goto nomem;
            break;
        case KIND_INT:
        case KIND_DOUBLE:
            col->validity = calloc(bitmap + 1, 1);
            if (col->kind == KIND_INT)
                col->ints = calloc((size_t)n + 1, sizeof(int64_t));
            else
                col->doubles = calloc((size_t)n + 1, sizeof(double));
            if (!col->validity || !(col->ints || col->doubles)) goto nomem;
            break;
        case KIND_MAP:
            col->offsets = calloc((size_t)n + 1, sizeof(int32_t));
            if (!col->offsets || bytes_reserve(&col->key_offsets, 4096) ||
                bytes_reserve(&col->value_offsets, 4096))
                goto nomem;
            ((int32_t *)col->key_offsets.data)[0] = 0;
            ((int32_t *)col->value_offsets.data)[0] = 0;
            col->key_offsets.len = col->value_offsets.len = 4;
            break;
        default:
            PyErr_Format(PyExc_ValueError, "unknown kind %c", col->kind);
            goto out;
        }
    }
    NameTable names_table;
    name_table_build(&names_table, cols, ncols);
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < n && !failed; row++) {
        if (starts[row] < 0 || ends[row] < starts[row] || ends[row] > text.len) {
            failed = -1;
            break;
        }
        Cursor c = {(const unsigned char *)text.buf + starts[row],
                    (const unsigned char *)text.buf + ends[row]};
        uint64_t touched;
        int rc = scan_line(&c, cols, ncols, &names_table, row, &touched);
        for (int i = 0; rc && i < ncols; i++) { /* roll the row back: it is null everywhere */
            if (!((touched >> i) & 1)) continue;
            Column *col = &cols[i];
            if (col->validity) clear_valid(col->validity, row);
            if (col->kind == KIND_STRING) {
                col->data.len = (size_t)col->offsets[row];
                col->filled = row;
            } else if (col->kind == KIND_MAP) {
                col->entries = col->offsets[row];
                col->filled = row;
                col->key_offsets.len = col->value_offsets.len = 4 * ((size_t)col->entries + 1);
                col->key_data.len = (size_t)((int32_t *)col->key_offsets.data)[col->entries];
                col->value_data.len = (size_t)((int32_t *)col->value_offsets.data)[col->entries];
            }
        }
        if (rc == -2) failed = -2;
        mine[row] = rc == 0;
    }
    for (int i = 0; !failed && i < ncols; i++)
        if (cols[i].offsets) fill_to(&cols[i], n);
    Py_END_ALLOW_THREADS
    if (failed == -1) {
        PyErr_SetString(PyExc_ValueError, "a line's span lies outside the text");
        goto out;
    }
    if (failed == -2) goto nomem;

    PyObject *columns = PyList_New(ncols);
    if (!columns) goto out;
    for (int i = 0; i < ncols; i++) {
        Column *col = &cols[i];
        PyObject *item = NULL;
        int64_t nulls = 0;
        if (col->validity) {
            int64_t valid = 0;
            for (size_t b = 0; b < bitmap; b++) valid += __builtin_popcount(col->validity[b]);
            nulls = (int64_t)n - valid;
        }
        switch (col->kind) {
        case KIND_STRING:
            item = Py_BuildValue("(NNNL)", own(&col->validity, bitmap),
                                 own(&col->offsets, ((size_t)n + 1) * 4),
                                 own(&col->data.data, col->data.len), (long long)nulls);
            break;
        case KIND_INT:
            item = Py_BuildValue("(NNL)", own(&col->validity, bitmap),
                                 own(&col->ints, (size_t)n * 8), (long long)nulls);
            break;
        case KIND_DOUBLE:
            item = Py_BuildValue("(NNL)", own(&col->validity, bitmap),
                                 own(&col->doubles, (size_t)n * 8), (long long)nulls);
            break;
        case KIND_MAP:
            item = Py_BuildValue("(NNNNN)", own(&col->offsets, ((size_t)n + 1) * 4),
                                 own(&col->key_offsets.data, col->key_offsets.len),
                                 own(&col->key_data.data, col->key_data.len),
                                 own(&col->value_offsets.data, col->value_offsets.len),
                                 own(&col->value_data.data, col->value_data.len));
            break;
        }
        if (!item) {
            Py_DECREF(columns);
            goto out;
        }
        PyList_SET_ITEM(columns, i, item);
    }
    result = Py_BuildValue("(NN)", own(&mine, (size_t)n), columns);
    goto out;
nomem:
    PyErr_NoMemory();
out:
    free(mine);
    free_columns(cols, ncols);
    PyBuffer_Release(&text);
    PyBuffer_Release(&starts_buf);
    PyBuffer_Release(&ends_buf);
    return result;
}

PyDoc_STRVAR(newlines_doc, "newlines(data) -> buffer\n\n"
                            "The offset of every newline byte in `data`, as int64 values.");

static PyObject *newlines(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const char *start = data.buf, *end = start + data.len;
    size_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    for (const char *p = start; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) count++;
    Py_END_ALLOW_THREADS
    int64_t *offsets = malloc(count ? count * sizeof(int64_t) : 1);
    if (!offsets) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    size_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (const char *p = start; i < count && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        offsets[i++] = p - start;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyObject *result = own(&offsets, i * sizeof(int64_t));
    free(offsets); /* NULL unless own() failed */
    return result;
}

PyDoc_STRVAR(count_newlines_doc, "count_newlines(data) -> int\n\nNewline bytes in `data`.");

static PyObject *count_newlines(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const char *start = data.buf, *end = start + data.len;
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    for (const char *p = start; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) count++;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"newlines", newlines, METH_VARARGS, newlines_doc},
    {"count_newlines", count_newlines, METH_VARARGS, count_newlines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "Canonical event lines -> Arrow column buffers.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&OwnedBufferType) < 0) return NULL;
    return PyModule_Create(&module);
}
