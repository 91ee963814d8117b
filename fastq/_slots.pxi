# Building instances of slotted Python classes without running their __init__
# (included by _core.pyx). An enqueue makes a Prepared and a TaskInfo per task; as
# Python code each costs an __init__ frame and one attribute store per field (and
# TaskInfo, a frozen dataclass, an object.__setattr__ each). Here the values are
# written straight into the object's slots.

from cpython.ref cimport Py_DECREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

import types

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    ctypedef struct PyTypeObject:
        Py_ssize_t tp_basicsize
        PyObject* (*tp_alloc)(PyTypeObject*, Py_ssize_t)
    int T_OBJECT_EX

cdef enum:
    _MAX_SLOTS = 32


@cython.final
cdef class SlotBuilder:
    """Makes instances of ``cls`` with the slots ``names`` set from a tuple, as if an
    ``__init__`` had stored them, without calling one.

    Args:
        cls: a class whose ``names`` are all its own ``__slots__`` (no ``__dict__``,
            nothing done in ``__new__``/``__init__`` beyond storing the fields).
        names: the slot names, in the order ``build``'s tuple gives the values.
    """

    cdef object cls
    cdef Py_ssize_t n
    cdef Py_ssize_t offsets[_MAX_SLOTS]

    def __init__(self, type cls, names):
        names = tuple(names)
        if len(names) > _MAX_SLOTS:
            raise ValueError(f"at most {_MAX_SLOTS} slots")
        if "__dict__" in dir(cls) or cls.__new__ is not object.__new__:
            raise TypeError(f"{cls.__name__} must be slotted and use object.__new__")
        cdef Py_ssize_t i
        cdef PyMemberDef* member
        for i, name in enumerate(names):
            d = cls.__dict__.get(name)
            if type(d) is not types.MemberDescriptorType:
                raise TypeError(f"{cls.__name__}.{name} is not a slot of the class itself")
            member = (<PyMemberDescrObject*><PyObject*>d).d_member
            if member.type != T_OBJECT_EX:
                raise TypeError(f"{cls.__name__}.{name} is not an object slot")
            self.offsets[i] = member.offset
        self.cls = cls
        self.n = len(names)

    def build(self, tuple values):
        """A new instance with the slots set to ``values`` (one per name)."""
        if PyTuple_GET_SIZE(values) != self.n:
            raise ValueError(f"expected {self.n} values, got {PyTuple_GET_SIZE(values)}")
        cdef PyTypeObject* tp = <PyTypeObject*><PyObject*>self.cls
        cdef PyObject* obj = tp.tp_alloc(tp, 0)  # zeroed: every slot unset
        if obj is NULL:
            raise MemoryError()
        cdef PyObject* v
        cdef Py_ssize_t i
        for i in range(self.n):
            v = <PyObject*>PyTuple_GET_ITEM(values, i)
            Py_INCREF(<object>v)
            (<PyObject**>((<char*>obj) + self.offsets[i]))[0] = v
        cdef object out = <object>obj  # a second reference: drop tp_alloc's own
        Py_DECREF(out)
        return out
