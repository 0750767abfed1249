/* Realtime trade frame scanner: the C twin of the fast-path record pattern.
 *
 * Scanner(columns, roles, widths, nwidths, masks, end_group) is configured from the
 * layout that daemon/kis/frames.py derives from the scalp line schema: for each KIS column
 * the fast path reads, its role (the numbers of frames.Role), its domain (for numbers the
 * most digits of a value >= 0 and of a negative one; for short codes their longest width;
 * for choices a mask of the allowed digits; bit 15 of the mask allows an empty value).
 * scan(text, start, count, width) then checks the payload text[start:] of a frame holding
 * `count` records of `width` '^'-separated columns exactly as the regular expression built
 * by frames.record_pattern does, and returns the same groups (in column order, per
 * record), or None when the pattern would not match. The parser uses it when it was built
 * and the pattern otherwise; a test and a fuzzer hold the two equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { R_SYMBOL = 0, R_TIME = 1, R_DATE = 2, R_INT = 3, R_FLOAT = 4, R_CHOICE = 5,
       R_HALT = 6, R_CODE = 7, R_LAST = 7 };

#define MAX_COLUMNS 256
#define EMPTY_OK (1 << 15)

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;             /* columns read */
    int column[MAX_COLUMNS];  /* KIS column, increasing */
    int role[MAX_COLUMNS];
    int width[MAX_COLUMNS];
    int nwidth[MAX_COLUMNS];
    int mask[MAX_COLUMNS];
    int end_group;            /* each record ends with an empty group */
    Py_ssize_t groups;        /* groups per record */
    int min_width;            /* columns a record needs: the last one read + 1 */
} Scanner;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_code_char(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z'); }

/* digits of s[0..n): a nonzero-led run of 1..most digits, or "0" */
static int ok_digits(const char *s, Py_ssize_t n, int most) {
    if (n == 1 && s[0] == '0') return 1;
    if (n < 1 || n > most || s[0] < '1' || s[0] > '9') return 0;
    for (Py_ssize_t i = 1; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* 0 | [1-9][0-9]{0,w-1} | -[1-9][0-9]{0,nw-1} | empty (when allowed) */
static int ok_int(const char *s, Py_ssize_t n, int w, int nw, int mask) {
    if (n == 0) return (mask & EMPTY_OK) != 0;
    if (s[0] == '-') return nw > 0 && n > 1 && s[1] != '0' && ok_digits(s + 1, n - 1, nw);
    return ok_digits(s, n, w);
}

/* (0|[1-9][0-9]{0,w-1})\.([0-9]{0,5}[1-9]|0), or the same after '-' with nw, followed by
 * 0*, and never "0.0000" (repr spells such a small number with an exponent): returns the
 * length kept (the trailing zeros of the fraction dropped, one kept after the point), or 0. */
static Py_ssize_t ok_float(const char *s, Py_ssize_t n, int w, int nw) {
    Py_ssize_t i = 0, int_start, dot, end;
    int most = w;
    if (n > 0 && s[0] == '-') {
        if (nw == 0) return 0;
        i = 1;
        most = nw;
    }
    int_start = i;
    if (i < n && s[i] == '0') {
        i++;
        if (n - i >= 5 && memcmp(s + i, ".0000", 5) == 0) return 0;
    } else {
        if (i >= n || s[i] < '1' || s[i] > '9') return 0;
        for (i++; i < n && is_digit(s[i]); i++)
            ;
        if (i - int_start > most) return 0;
    }
    if (i >= n || s[i] != '.') return 0;
    dot = i;
    for (i++; i < n; i++)
        if (!is_digit(s[i])) return 0;
    if (n == dot + 1) return 0; /* the pattern needs a digit after the point */
    end = n;
    while (end > dot + 1 && s[end - 1] == '0') end--;
    if (end == dot + 1) return dot + 2; /* all zeros: keep "x.0" */
    if (end - (dot + 1) > 6) return 0;
    return end;
}

static int all_digits(const char *s, Py_ssize_t n, Py_ssize_t want) {
    if (n != want) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

static int code_run(const char *s, Py_ssize_t n, Py_ssize_t lo, Py_ssize_t hi) {
    if (n < lo || n > hi) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_code_char(s[i])) return 0;
    return 1;
}

/* a KRX code: 6 capital letters or digits, or Q and 6 */
static int ok_symbol(const char *s, Py_ssize_t n) {
    if (n == 7) return s[0] == 'Q' && code_run(s + 1, 6, 6, 6);
    return code_run(s, n, 6, 6);
}

/* HHMMSS with HH < 24, MM < 60, SS < 60 */
static int ok_time(const char *s, Py_ssize_t n) {
    if (!all_digits(s, n, 6)) return 0;
    return (s[0] < '2' || (s[0] == '2' && s[1] < '4')) && s[2] < '6' && s[4] < '6';
}

static int groups_of(int role) {
    return role == R_TIME ? 3 : (role == R_HALT ? 0 : 1);
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds) {
    Py_buffer cols, roles, widths, nwidths, masks;
    int end_group;
    static char *kw[] = {"columns", "roles", "widths", "nwidths", "masks", "end_group", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*y*y*y*y*p", kw, &cols, &roles, &widths,
                                     &nwidths, &masks, &end_group))
        return -1;
    int rc = -1;
    if (cols.len != roles.len || cols.len != widths.len || cols.len != nwidths.len ||
        masks.len != 2 * cols.len || cols.len < 1 || cols.len > MAX_COLUMNS) {
        PyErr_SetString(PyExc_ValueError,
                        "columns, roles, widths, nwidths: 1..256 bytes each; masks: 2 each");
        goto done;
    }
    self->n = cols.len;
    self->groups = end_group ? 1 : 0;
    for (Py_ssize_t i = 0; i < cols.len; i++) {
        int c = ((unsigned char *)cols.buf)[i], r = ((unsigned char *)roles.buf)[i];
        if (r > R_LAST || (i > 0 && c <= self->column[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "roles 0..7 on increasing columns");
            goto done;
        }
        self->column[i] = c;
        self->role[i] = r;
        self->width[i] = ((unsigned char *)widths.buf)[i];
        self->nwidth[i] = ((unsigned char *)nwidths.buf)[i];
        self->mask[i] = ((unsigned char *)masks.buf)[2 * i] |
                        (((unsigned char *)masks.buf)[2 * i + 1] << 8);
        self->groups += groups_of(r);
    }
    self->end_group = end_group;
    self->min_width = self->column[self->n - 1] + 1;
    rc = 0;
done:
    PyBuffer_Release(&cols);
    PyBuffer_Release(&roles);
    PyBuffer_Release(&widths);
    PyBuffer_Release(&nwidths);
    PyBuffer_Release(&masks);
    return rc;
}

static PyObject *str(const char *s, Py_ssize_t n) { return PyUnicode_FromStringAndSize(s, n); }

static PyObject *Scanner_scan(Scanner *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start, count, width;
    if (!PyArg_ParseTuple(args, "Unnn", &text, &start, &count, &width)) return NULL;
    if (!PyUnicode_IS_ASCII(text) || count < 1 || width < self->min_width || start < 0)
        Py_RETURN_NONE;
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (start > len) Py_RETURN_NONE;

    /* first pass: column boundaries of the whole payload; must be count * width columns */
    Py_ssize_t total = count * width;
    Py_ssize_t *bounds = PyMem_Malloc(sizeof(Py_ssize_t) * (total + 1));
    if (bounds == NULL) return PyErr_NoMemory();
    Py_ssize_t k = 0;
    bounds[k++] = start;
    for (Py_ssize_t i = start; i < len; i++) {
        if (s[i] == '^') {
            if (k > total - 1) { PyMem_Free(bounds); Py_RETURN_NONE; }
            bounds[k++] = i + 1;
        }
    }
    if (k != total) { PyMem_Free(bounds); Py_RETURN_NONE; }
    bounds[k] = len + 1; /* as if a '^' followed the last column */

#define FIELD(r, f) (s + bounds[(r) * width + (f)])
#define FLEN(r, f) (bounds[(r) * width + (f) + 1] - bounds[(r) * width + (f)] - 1)

    const Py_ssize_t n = self->n, per = self->groups;
    Py_ssize_t keep[MAX_COLUMNS]; /* per column: the length of its group (floats trimmed) */
    PyObject *out = PyTuple_New(count * per);
    if (out == NULL) { PyMem_Free(bounds); return NULL; }
    const char *date0 = NULL, *hour0 = NULL;
    for (Py_ssize_t r = 0; r < count; r++) {
        /* checks first, then the strings */
        for (Py_ssize_t i = 0; i < n; i++) {
            int c = self->column[i];
            const char *f = FIELD(r, c);
            Py_ssize_t fl = FLEN(r, c);
            keep[i] = fl;
            switch (self->role[i]) {
            case R_SYMBOL:
                if (!ok_symbol(f, fl)) goto no;
                break;
            case R_TIME:
                if (!ok_time(f, fl)) goto no;
                if (r == 0) hour0 = f;
                else if (memcmp(f, hour0, 2) != 0) goto no;
                break;
            case R_DATE:
                if (!all_digits(f, fl, 8)) goto no;
                if (r == 0) date0 = f;
                else if (memcmp(f, date0, 8) != 0) goto no;
                break;
            case R_INT:
                if (!ok_int(f, fl, self->width[i], self->nwidth[i], self->mask[i])) goto no;
                break;
            case R_FLOAT:
                if ((keep[i] = ok_float(f, fl, self->width[i], self->nwidth[i])) == 0) goto no;
                break;
            case R_CHOICE:
                if (fl == 0) {
                    if (!(self->mask[i] & EMPTY_OK)) goto no;
                } else if (fl > 1 || !is_digit(*f) || !(self->mask[i] & (1 << (*f - '0')))) {
                    goto no;
                }
                break;
            case R_HALT:
                if (fl > 1 || (fl == 1 && *f != 'N')) goto no;
                break;
            case R_CODE:
                if (!code_run(f, fl, 0, self->width[i])) goto no;
                break;
            }
        }
        Py_ssize_t g = r * per;
        for (Py_ssize_t i = 0; i < n; i++) {
            int role = self->role[i];
            const char *f = FIELD(r, self->column[i]);
            if (role == R_HALT) continue;
            if (role == R_TIME) {
                for (int j = 0; j < 3; j++) {
                    PyObject *v = str(f + 2 * j, 2);
                    if (v == NULL) goto fail;
                    PyTuple_SET_ITEM(out, g++, v);
                }
                continue;
            }
            PyObject *v = str(f, keep[i]);
            if (v == NULL) goto fail;
            PyTuple_SET_ITEM(out, g++, v);
        }
        if (self->end_group) {
            PyObject *v = PyUnicode_New(0, 0);
            if (v == NULL) goto fail;
            PyTuple_SET_ITEM(out, g++, v);
        }
    }
    PyMem_Free(bounds);
    return out;
no:
    PyMem_Free(bounds);
    Py_DECREF(out);
    Py_RETURN_NONE;
fail: /* out of memory: the tuple's unset items are NULL, which its dealloc skips */
    PyMem_Free(bounds);
    Py_DECREF(out);
    return NULL;
#undef FIELD
#undef FLEN
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS,
     "scan(text, start, count, width) -> the fast-path groups of a frame, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "observer.daemon.kis._scan.Scanner",
    .tp_doc = "Scanner(columns, roles, widths, nwidths, masks, end_group): a frame scanner for one layout.",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "Realtime trade frame scanner (see daemon/kis/frames.py).",
    -1, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
