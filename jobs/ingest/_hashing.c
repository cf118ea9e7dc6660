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

static PyMethodDef methods[] = {
    {"xxh3_64", xxh3_64, METH_VARARGS, xxh3_64_doc},
    {"xxh3_128_hex", xxh3_128_hex, METH_VARARGS, xxh3_128_hex_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hashing", "xxh3 digests of Arrow string arrays.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hashing(void) { return PyModule_Create(&module); }
