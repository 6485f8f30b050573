/*
 * shared_stub.c - the shared library's own (empty) translation unit: libpadim.so is
 * libpadim.a linked whole, with the exports limited to padim.h (cmake/padim_install.cmake).
 */
typedef int padim_shared_stub;
