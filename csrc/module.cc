// The Python extension module stub: importing sgl_kernel._C loads this shared
// library, whose static initializers register every op with torch (each
// family's TORCH_LIBRARY_FRAGMENT). No op list lives here.
#include <Python.h>

static struct PyModuleDef sgl_kernel_module = {PyModuleDef_HEAD_INIT, "_C", "sgl_kernel ops (see torch.ops.sgl_kernel)",
                                               -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&sgl_kernel_module); }
