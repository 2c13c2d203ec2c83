// Writes the seed corpus of client_hello_fuzz into the directory given as the only argument:
// real ClientHellos made by OpenSSL at run time (nothing captured is committed).
#include <fstream>
#include <iostream>
#include <string>

#include "lb/testing/client_hello_bytes.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: client_hello_seeds DIRECTORY\n";
    return 2;
  }
  const std::string directory = argv[1];
  int index = 0;
  for (const std::string name :
       {"", "a.example", "tenant-b.example.com", "xn--bcher-kva.example"}) {
    const std::string hello = gatehouse::lb::testing::OpenSslClientHello(name);
    if (hello.empty()) {
      std::cerr << "OpenSSL made no ClientHello for \"" << name << "\"\n";
      return 1;
    }
    std::ofstream out(directory + "/openssl-" + std::to_string(index++), std::ios::binary);
    out << hello;
    if (!out) {
      std::cerr << "cannot write a seed into " << directory << "\n";
      return 1;
    }
  }
  return 0;
}
