# Every third-party library comes from a Debian 12 package listed in scripts/deps.txt.
# Nothing is downloaded at build time. Their headers are SYSTEM so our warnings stay ours.
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
if(GATEHOUSE_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG REQUIRED)
endif()

# Standalone Asio is header-only and ships no CMake package.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(gatehouse_asio INTERFACE)
target_include_directories(gatehouse_asio SYSTEM INTERFACE "${ASIO_INCLUDE_DIR}")
target_compile_definitions(gatehouse_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Clang 14 with libstdc++ does not advertise coroutine support to Asio by itself.
  target_compile_definitions(gatehouse_asio INTERFACE ASIO_HAS_CO_AWAIT=1)
endif()
target_link_libraries(gatehouse_asio INTERFACE Threads::Threads)
add_library(gatehouse::asio ALIAS gatehouse_asio)

# gRPC 1.51 and protobuf 3.21 for the job API: the generated code is built once, in
# proto/CMakeLists.txt (gatehouse::api_proto).
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(GATEHOUSE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# hiredis 0.14 (global rate limits) and libcurl (etcd's JSON gateway) ship pkg-config files only.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)
