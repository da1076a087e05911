# Host half of the GPU validation code (statistics, fits, references, reports): always built, so CI tests it.
add_subdirectory(src/gpu/host)

# Optional CUDA reference kernels (src/gpu/). KVPLAN_CUDA=AUTO builds them where nvcc exists.
if(NOT KVPLAN_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER AND EXISTS ${CMAKE_SOURCE_DIR}/src/gpu/CMakeLists.txt)
    # A100 (sm_80) and H100/H200 (sm_90a: Hopper's own wgmma instructions) unless the user names
    # others; must precede enable_language, which otherwise caches nvcc's default (too old for
    # cp.async and bf16 mma). A build without "90a" runs the sm_80 kernels on Hopper too.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES "80;90a" CACHE STRING "CUDA architectures to build for")
    endif()
    enable_language(CUDA)
    add_subdirectory(src/gpu)
  elseif(KVPLAN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KVPLAN_CUDA=ON but no CUDA compiler was found (install the CUDA Toolkit or set CMAKE_CUDA_COMPILER)")
  else()
    message(STATUS "kvplan: building without CUDA (validate/calibrate will exit 3)")
  endif()
endif()
