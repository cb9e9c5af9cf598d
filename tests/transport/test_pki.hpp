#pragma once
// A throwaway PKI for the TLS tests, minted with OpenSSL when first used and
// deleted at exit: no private key is ever checked in.
#include <filesystem>
#include <string>

namespace transport_test {

struct test_pki {
    std::filesystem::path dir;
    std::string ca_file;       // the trusted test CA
    std::string ca_dir;        // the same CA as an OpenSSL hashed directory
    std::string server_cert;   // CN and SAN localhost, SAN 127.0.0.1; issued by the test CA
    std::string server_key;
    std::string client_cert;   // CN test-client; issued by the test CA
    std::string client_key;
    std::string other_ca_file; // a CA nobody trusts
    std::string other_client_cert; // CN intruder; issued by the other CA
    std::string other_client_key;

    static const test_pki& get();
};

inline constexpr const char* client_common_name = "test-client";

} // namespace transport_test
