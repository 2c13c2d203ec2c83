# gatehouse_library(NAME dir SRCS ... DEPS ...): target gatehouse_<dir>, alias gatehouse::<dir>.
# gatehouse_test(NAME test SRCS ... DEPS ... LABELS ...): a GoogleTest binary registered with ctest.
# gatehouse_executable(NAME exe OUTPUT_NAME n SRCS ... DEPS ...): a program in apps/ or bench/.

function(gatehouse_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target "gatehouse_${ARG_NAME}")
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(gatehouse::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_compile_options(${target} PRIVATE ${GATEHOUSE_WARNING_FLAGS})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
endfunction()

function(gatehouse_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${GATEHOUSE_WARNING_FLAGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} gatehouse::testing GTest::gmock_main)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${ARG_NAME} PROPERTIES
    LABELS "${ARG_LABELS}"
    TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "GATEHOUSE_BIN_DIR=${PROJECT_BINARY_DIR}/bin;GATEHOUSE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

function(gatehouse_executable)
  cmake_parse_arguments(ARG "" "NAME;OUTPUT_NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${GATEHOUSE_WARNING_FLAGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  # Full RELRO: every symbol is bound at start-up and the GOT is then made read-only, so a memory
  # bug cannot redirect a libc call through it (hardening).
  target_link_options(${ARG_NAME} PRIVATE -Wl,-z,relro,-z,now)
  if(ARG_OUTPUT_NAME)
    set_target_properties(${ARG_NAME} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/bin")
endfunction()
