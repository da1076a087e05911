// The previous namespace for core/error.cpp, to link beside wrap_old.cu.
#define kvplan kvplan_old
#include "core/error.cpp"
