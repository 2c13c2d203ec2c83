# The warning set from STYLE.md section 8, applied to our targets only.
set(GATEHOUSE_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports a false -Wmismatched-new-delete on coroutine frames.
  list(APPEND GATEHOUSE_WARNING_FLAGS -Wno-mismatched-new-delete)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  list(APPEND GATEHOUSE_WARNING_FLAGS -Wthread-safety)
endif()
if(GATEHOUSE_WERROR)
  list(APPEND GATEHOUSE_WARNING_FLAGS -Werror)
endif()
