/* Stand-in for the Raspberry Pi archive's camera stack (python3-picamera2 imports simplejpeg, a C
 * extension built against Debian's numpy 1.x). `make pi-check` compiles this inside the Debian arm64
 * root against the system numpy's headers and installs it into the system site-packages, exactly where
 * the real one lives. Like the real one, importing it fails when a numpy of another ABI (numpy 2 in the
 * service venv) shadows the system numpy — so the check catches the clash a Pi user would hit. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

static PyObject *frame(PyObject *self, PyObject *args)
{
    npy_intp dims[3] = {2, 2, 3};
    return PyArray_ZEROS(3, dims, NPY_UINT8, 0);
}

static PyMethodDef methods[] = {
    {"frame", frame, METH_NOARGS, "A 2x2 RGB frame of zeros, made through the numpy C API."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "camera_standin", NULL, -1, methods};

PyMODINIT_FUNC PyInit_camera_standin(void)
{
    import_array();
    return PyModule_Create(&module);
}
