/* Realtime trade frame scanner: the C twin of the parser's fast-path pattern.
 *
 * scan(text, start, count, width) checks the payload text[start:] of a frame holding
 * `count` records of `width` (>= 46) '^'-separated fields, exactly as the regular
 * expression built by parser._record_pattern does, and returns the same groups (20 per
 * record, in line order), or None when the pattern would not match. parser.py uses it
 * when it was built and the pattern otherwise; a test holds the two equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define N_FIELDS 46
#define GROUPS 20

/* field positions (KIS.md, H0STCNT0 order) */
enum { F_SYMBOL = 0, F_TIME = 1, F_PRICE = 2, F_SIGN = 3, F_CHANGE = 4, F_PCT = 5,
       F_VWAP = 6, F_OPEN = 7, F_HIGH = 8, F_LOW = 9, F_ASK1 = 10, F_BID1 = 11, F_VOL = 12,
       F_CUMVOL = 13, F_CUMVAL = 14, F_STRENGTH = 18, F_SIDE = 21, F_DATE = 33,
       F_HALT = 35 };

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 0 | -?[1-9][0-9]{0,17} */
static int ok_int(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    if (n == 1 && s[0] == '0') return 1;
    if (n > 0 && s[0] == '-') i = 1;
    if (n - i < 1 || n - i > 18 || s[i] < '1' || s[i] > '9') return 0;
    for (i++; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* -?(0|[1-9][0-9]{0,8})\.([0-9]{0,5}[1-9]|0) followed by 0*: returns the length kept
 * (the trailing zeros of the fraction dropped, one kept after the point), or 0. */
static Py_ssize_t ok_float(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, int_start, dot, end;
    if (n > 0 && s[0] == '-') i = 1;
    int_start = i;
    if (i < n && s[i] == '0') {
        i++;
    } else {
        if (i >= n || s[i] < '1' || s[i] > '9') return 0;
        for (i++; i < n && is_digit(s[i]); i++)
            ;
        if (i - int_start > 9) return 0;
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

static int ok_symbol(const char *s, Py_ssize_t n) {
    if (n < 1) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return 0;
    }
    return 1;
}

static PyObject *str(const char *s, Py_ssize_t n) { return PyUnicode_FromStringAndSize(s, n); }

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start, count, width;
    if (!PyArg_ParseTuple(args, "Unnn", &text, &start, &count, &width)) return NULL;
    if (!PyUnicode_IS_ASCII(text) || count < 1 || width < N_FIELDS || start < 0)
        Py_RETURN_NONE;
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (start > len) Py_RETURN_NONE;

    /* first pass: field boundaries of the whole payload; must be count * width fields */
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
    bounds[k] = len + 1; /* as if a '^' followed the last field */

#define FIELD(r, f) (s + bounds[(r) * width + (f)])
#define FLEN(r, f) (bounds[(r) * width + (f) + 1] - bounds[(r) * width + (f)] - 1)

    PyObject *out = PyTuple_New(count * GROUPS);
    if (out == NULL) { PyMem_Free(bounds); return NULL; }
    const char *date0 = NULL, *hour0 = NULL;
    static const int ints_a[] = {F_PRICE, F_SIGN, F_CHANGE};
    static const int ints_b[] = {F_OPEN, F_HIGH, F_LOW, F_ASK1, F_BID1, F_VOL, F_CUMVOL,
                                 F_CUMVAL};
    for (Py_ssize_t r = 0; r < count; r++) {
        PyObject *g[GROUPS];
        Py_ssize_t ng = 0, n;
        const char *f;
        /* checks first, then the strings */
        f = FIELD(r, F_SYMBOL); n = FLEN(r, F_SYMBOL);
        if (!ok_symbol(f, n)) goto no;
        f = FIELD(r, F_TIME); n = FLEN(r, F_TIME);
        if (!all_digits(f, n, 6)) goto no;
        f = FIELD(r, F_DATE); n = FLEN(r, F_DATE);
        if (!all_digits(f, n, 8)) goto no;
        if (r == 0) {
            date0 = f;
            hour0 = FIELD(r, F_TIME);
        } else if (memcmp(f, date0, 8) != 0 || memcmp(FIELD(r, F_TIME), hour0, 2) != 0) {
            goto no;
        }
        for (int j = 0; j < 3; j++)
            if (!ok_int(FIELD(r, ints_a[j]), FLEN(r, ints_a[j]))) goto no;
        for (int j = 0; j < 8; j++)
            if (!ok_int(FIELD(r, ints_b[j]), FLEN(r, ints_b[j]))) goto no;
        Py_ssize_t pct = ok_float(FIELD(r, F_PCT), FLEN(r, F_PCT));
        Py_ssize_t vwap = ok_float(FIELD(r, F_VWAP), FLEN(r, F_VWAP));
        Py_ssize_t strength = ok_float(FIELD(r, F_STRENGTH), FLEN(r, F_STRENGTH));
        if (!pct || !vwap || !strength) goto no;
        n = FLEN(r, F_SIDE);
        if (n > 1 || (n == 1 && !is_digit(*FIELD(r, F_SIDE)))) goto no;
        n = FLEN(r, F_HALT);
        if (n > 1 || (n == 1 && *FIELD(r, F_HALT) != 'N')) goto no;

        g[ng++] = str(FIELD(r, F_SYMBOL), FLEN(r, F_SYMBOL));
        f = FIELD(r, F_TIME);
        g[ng++] = str(f, 2);
        g[ng++] = str(f + 2, 2);
        g[ng++] = str(f + 4, 2);
        for (int j = 0; j < 3; j++) g[ng++] = str(FIELD(r, ints_a[j]), FLEN(r, ints_a[j]));
        g[ng++] = str(FIELD(r, F_PCT), pct);
        g[ng++] = str(FIELD(r, F_VWAP), vwap);
        for (int j = 0; j < 8; j++) g[ng++] = str(FIELD(r, ints_b[j]), FLEN(r, ints_b[j]));
        g[ng++] = str(FIELD(r, F_STRENGTH), strength);
        g[ng++] = str(FIELD(r, F_SIDE), FLEN(r, F_SIDE));
        g[ng++] = str(FIELD(r, F_DATE), 8);
        for (int j = 0; j < GROUPS; j++) {
            if (g[j] == NULL) {
                for (int m = 0; m < GROUPS; m++) Py_XDECREF(g[m]);
                Py_DECREF(out);
                PyMem_Free(bounds);
                return NULL;
            }
            PyTuple_SET_ITEM(out, r * GROUPS + j, g[j]);
        }
    }
    PyMem_Free(bounds);
    return out;
no:
    PyMem_Free(bounds);
    Py_DECREF(out);
    Py_RETURN_NONE;
#undef FIELD
#undef FLEN
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(text, start, count, width) -> the fast-path groups of a frame, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "Realtime trade frame scanner (see parser.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
