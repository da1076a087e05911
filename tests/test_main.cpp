// The Catch2 runner; every *_test.cpp in tests/ is linked into this one executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
