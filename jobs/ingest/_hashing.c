/* xxh3 digests of every value of an Arrow string array, in one call.
 *
 * Ingest hashes every event twice: xxh3-64 of its id (the key index's sort key) and xxh3-128 of
 * its content (duplicate or conflict). The `xxhash` package hashes one Python bytes-like object
 * a call, so a million events cost a million calls and slices; these take the array's offsets
 * and data buffers whole. Same library version as that package (vendor/xxhash), same digests.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include "vendor/xxhash/xxhash.h"

static int check_offsets(const Py_buffer *offsets, const Py_buffer *data, Py_ssize_t *n) {
    if (offsets->len % 8 || offsets->len < 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must be int64, at least one");
        return -1;
    }
    const int64_t *o = offsets->buf;
    *n = offsets->len / 8 - 1;
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (o[i] < 0 || o[i + 1] < o[i] || o[i + 1] > data->len) {
            PyErr_SetString(PyExc_ValueError, "an offset lies outside the data");
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(xxh3_64_doc, "xxh3_64(offsets, data) -> bytes\n\n"
                          "xxh3-64 (seed 0) of data[offsets[i]:offsets[i+1]] for each i, as\n"
                          "native-endian uint64 values. `offsets` holds int64 values.");

static PyObject *xxh3_64(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer offsets, data;
    if (!PyArg_ParseTuple(args, "y*y*", &offsets, &data)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n;
    if (check_offsets(&offsets, &data, &n) == 0) {
        result = PyBytes_FromStringAndSize(NULL, n * 8);
        if (result) {
            uint64_t *out = (uint64_t *)PyBytes_AS_STRING(result);
            const int64_t *o = offsets.buf;
            const char *d = data.buf;
            Py_BEGIN_ALLOW_THREADS
            for (Py_ssize_t i = 0; i < n; i++)
                out[i] = XXH3_64bits(d + o[i], (size_t)(o[i + 1] - o[i]));
            Py_END_ALLOW_THREADS
        }
    }
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(xxh3_128_hex_doc,
             "xxh3_128_hex(offsets, data) -> bytes\n\n"
             "xxh3-128 (seed 0) of each value as 32 lower-case hex digits (what\n"
             "xxhash.xxh3_128_hexdigest gives), concatenated: 32 bytes a value.");

static PyObject *xxh3_128_hex(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer offsets, data;
    if (!PyArg_ParseTuple(args, "y*y*", &offsets, &data)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n;
    if (check_offsets(&offsets, &data, &n) == 0) {
        result = PyBytes_FromStringAndSize(NULL, n * 32);
        if (result) {
            static const char hex[] = "0123456789abcdef";
            char *out = PyBytes_AS_STRING(result);
            const int64_t *o = offsets.buf;
            const char *d = data.buf;
            Py_BEGIN_ALLOW_THREADS
            for (Py_ssize_t i = 0; i < n; i++) {
                XXH128_canonical_t canonical; /* big-endian bytes, as hexdigest prints them */
                XXH128_canonicalFromHash(&canonical,
                                         XXH3_128bits(d + o[i], (size_t)(o[i + 1] - o[i])));
                for (int b = 0; b < 16; b++) {
                    out[32 * i + 2 * b] = hex[canonical.digest[b] >> 4];
                    out[32 * i + 2 * b + 1] = hex[canonical.digest[b] & 15];
                }
            }
            Py_END_ALLOW_THREADS
        }
    }
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

typedef struct {
    const uint8_t *validity; /* NULL: every value is there */
    const void *offsets;     /* int32 or int64, per `wide` */
    const char *data;
    Py_ssize_t offset; /* the array's own offset (a slice) */
    int wide;
    const char *constant; /* one text for every row instead of values */
    Py_ssize_t constant_len;
} Field;

/* A row's field i, as bytes; a null is `null`. */
static inline void field_text(const Field *f, Py_ssize_t row, const char *null, const char **text,
                              size_t *len) {
    if (f->constant) {
        *text = f->constant;
        *len = (size_t)f->constant_len;
        return;
    }
    Py_ssize_t i = f->offset + row;
    if (f->validity && !((f->validity[i >> 3] >> (i & 7)) & 1)) {
        *text = null;
        *len = 1;
        return;
    }
    int64_t a, b;
    if (f->wide) {
        a = ((const int64_t *)f->offsets)[i];
        b = ((const int64_t *)f->offsets)[i + 1];
    } else {
        a = ((const int32_t *)f->offsets)[i];
        b = ((const int32_t *)f->offsets)[i + 1];
    }
    *text = f->data + a;
    *len = (size_t)(b - a);
}

PyDoc_STRVAR(xxh3_128_hex_rows_doc,
             "xxh3_128_hex_rows(n, fields, separator, null) -> bytes\n\n"
             "For each of n rows, xxh3-128 (as 32 hex digits) of its fields' texts joined by\n"
             "`separator` (one byte), a null field written as `null` (one byte): the digest of\n"
             "what pyarrow's binary_join_element_wise would give, without building it. Each\n"
             "field is (validity or None, offsets, data, array offset, offsets are int64) of a\n"
             "string array, or a bytes object: that text in every row.");

static PyObject *xxh3_128_hex_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_ssize_t n;
    PyObject *spec;
    const char *separator, *null;
    Py_ssize_t separator_len, null_len;
    if (!PyArg_ParseTuple(args, "nO!y#y#", &n, &PyList_Type, &spec, &separator, &separator_len,
                          &null, &null_len))
        return NULL;
    if (separator_len != 1 || null_len != 1 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "separator and null must be one byte each, n >= 0");
        return NULL;
    }
    Py_ssize_t nfields = PyList_GET_SIZE(spec);
    Field *fields = PyMem_Calloc((size_t)nfields + 1, sizeof(Field));
    Py_buffer *views = PyMem_Calloc((size_t)nfields * 3 + 1, sizeof(Py_buffer));
    int nviews = 0;
    PyObject *result = NULL;
    char *scratch = NULL;
    if (!fields || !views) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < nfields; i++) {
        PyObject *item = PyList_GET_ITEM(spec, i);
        Field *f = &fields[i];
        if (PyBytes_Check(item)) {
            f->constant = PyBytes_AS_STRING(item);
            f->constant_len = PyBytes_GET_SIZE(item);
            continue;
        }
        PyObject *validity, *offsets, *data;
        Py_ssize_t offset;
        int wide;
        if (!PyArg_ParseTuple(item, "OOOnp", &validity, &offsets, &data, &offset, &wide)) goto out;
        Py_buffer *vo = &views[nviews], *vd = &views[nviews + 1];
        if (PyObject_GetBuffer(offsets, vo, PyBUF_SIMPLE)) goto out;
        nviews++;
        if (PyObject_GetBuffer(data, vd, PyBUF_SIMPLE)) goto out;
        nviews++;
        size_t width = wide ? 8 : 4;
        if (offset < 0 || (size_t)vo->len < (size_t)(offset + n + 1) * width) {
            PyErr_SetString(PyExc_ValueError, "a field has fewer offsets than rows");
            goto out;
        }
        f->offsets = vo->buf;
        f->data = vd->buf;
        f->offset = offset;
        f->wide = wide;
        for (Py_ssize_t r = offset; r <= offset + n; r++) {
            int64_t at = wide ? ((const int64_t *)vo->buf)[r] : ((const int32_t *)vo->buf)[r];
            int64_t next = r < offset + n
                               ? (wide ? ((const int64_t *)vo->buf)[r + 1] : ((const int32_t *)vo->buf)[r + 1])
                               : at;
            if (at < 0 || next < at || at > vd->len || next > vd->len) {
                PyErr_SetString(PyExc_ValueError, "an offset lies outside the data");
                goto out;
            }
        }
        if (validity != Py_None) {
            Py_buffer *vv = &views[nviews];
            if (PyObject_GetBuffer(validity, vv, PyBUF_SIMPLE)) goto out;
            nviews++;
            if ((size_t)vv->len * 8 < (size_t)(offset + n)) {
                PyErr_SetString(PyExc_ValueError, "a validity bitmap is shorter than the rows");
                goto out;
            }
            f->validity = vv->buf;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, n * 32);
    if (!result) goto out;
    size_t capacity = 1 << 16;
    scratch = PyMem_RawMalloc(capacity);
    if (!scratch) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto out;
    }
    int failed = 0;
    char *out = PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    static const char hex[] = "0123456789abcdef";
    for (Py_ssize_t row = 0; row < n && !failed; row++) {
        size_t used = 0;
        for (Py_ssize_t i = 0; i < nfields; i++) {
            const char *text;
            size_t len;
            field_text(&fields[i], row, null, &text, &len);
            if (used + len + 1 > capacity) {
                size_t grown = capacity;
                while (used + len + 1 > grown) grown *= 2;
                char *bigger = PyMem_RawRealloc(scratch, grown);
                if (!bigger) {
                    failed = 1;
                    break;
                }
                scratch = bigger;
                capacity = grown;
            }
            if (i) scratch[used++] = separator[0];
            memcpy(scratch + used, text, len);
            used += len;
        }
        if (failed) break;
        XXH128_canonical_t canonical;
        XXH128_canonicalFromHash(&canonical, XXH3_128bits(scratch, used));
        for (int b = 0; b < 16; b++) {
            out[32 * row + 2 * b] = hex[canonical.digest[b] >> 4];
            out[32 * row + 2 * b + 1] = hex[canonical.digest[b] & 15];
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
out:
    for (int v = 0; v < nviews; v++) PyBuffer_Release(&views[v]);
    PyMem_Free(views);
    PyMem_Free(fields);
    PyMem_RawFree(scratch);
    return result;
}

static PyMethodDef methods[] = {
    {"xxh3_64", xxh3_64, METH_VARARGS, xxh3_64_doc},
    {"xxh3_128_hex", xxh3_128_hex, METH_VARARGS, xxh3_128_hex_doc},
    {"xxh3_128_hex_rows", xxh3_128_hex_rows, METH_VARARGS, xxh3_128_hex_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hashing", "xxh3 digests of Arrow string arrays.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hashing(void) { return PyModule_Create(&module); }
