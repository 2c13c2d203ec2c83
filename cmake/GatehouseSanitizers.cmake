# Sanitizer builds apply to everything we compile and link, tests included.
if(GATEHOUSE_SANITIZER STREQUAL "asan")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(GATEHOUSE_SANITIZER STREQUAL "tsan")
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "The tsan preset is built with Clang (see STYLE.md section 3)")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT GATEHOUSE_SANITIZER STREQUAL "")
  message(FATAL_ERROR "GATEHOUSE_SANITIZER must be '', 'asan' or 'tsan', not '${GATEHOUSE_SANITIZER}'")
endif()
