// Certificate minting with the OpenSSL C API (no openssl(1) needed).
#include "test_pki.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace transport_test {
namespace {

struct key_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct cert_deleter {
    void operator()(X509* c) const noexcept { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

void check(bool ok, const char* what)
{
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

key_ptr make_key()
{
    key_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(key != nullptr, "EC key generation");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, value);
    check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
    X509_EXTENSION_free(ext);
}

struct cert_request {
    const char* common_name;
    EVP_PKEY* key;
    X509* issuer = nullptr;     // nullptr: self-signed
    EVP_PKEY* issuer_key = nullptr;
    bool ca = false;
    const char* alt_names = nullptr;
    long serial = 1;
};

cert_ptr make_cert(const cert_request& r)
{
    cert_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509* x = cert.get();
    check(X509_set_version(x, 2) == 1, "X509_set_version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(x), r.serial) == 1, "serial");
    check(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) != nullptr, "notAfter");
    check(X509_set_pubkey(x, r.key) == 1, "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(x);
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(r.common_name),
              -1, -1, 0) == 1,
        "subject");
    X509* issuer = r.issuer != nullptr ? r.issuer : x;
    check(X509_set_issuer_name(x, X509_get_subject_name(issuer)) == 1, "issuer");

    add_extension(x, issuer, NID_subject_key_identifier, "hash");
    if (r.ca) {
        add_extension(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(x, issuer, NID_key_usage, "critical,digitalSignature");
        add_extension(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_extension(x, issuer, NID_authority_key_identifier, "keyid:always");
        if (r.alt_names != nullptr) add_extension(x, issuer, NID_subject_alt_name, r.alt_names);
    }
    EVP_PKEY* signer = r.issuer_key != nullptr ? r.issuer_key : r.key;
    check(X509_sign(x, signer, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

void write_cert(const std::filesystem::path& path, X509* cert)
{
    std::unique_ptr<std::FILE, file_closer> f(std::fopen(path.c_str(), "w"));
    check(f != nullptr, "open certificate file");
    check(PEM_write_X509(f.get(), cert) == 1, "PEM_write_X509");
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key)
{
    std::unique_ptr<std::FILE, file_closer> f(std::fopen(path.c_str(), "w"));
    check(f != nullptr, "open key file");
    check(PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_PrivateKey");
}

std::filesystem::path make_temp_dir()
{
    std::string pattern = (std::filesystem::temp_directory_path() / "mqtt-transport-test-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    check(::mkdtemp(buf.data()) != nullptr, "mkdtemp");
    return {buf.data()};
}

struct pki_holder {
    test_pki pki;

    pki_holder()
    {
        pki.dir = make_temp_dir();
        const auto& d = pki.dir;

        const key_ptr ca_key = make_key();
        const cert_ptr ca = make_cert({.common_name = "MQTT test CA", .key = ca_key.get(), .ca = true, .serial = 1});
        const key_ptr server_key = make_key();
        const cert_ptr server = make_cert({.common_name = "localhost",
            .key = server_key.get(),
            .issuer = ca.get(),
            .issuer_key = ca_key.get(),
            .alt_names = "DNS:localhost,IP:127.0.0.1",
            .serial = 2});
        const key_ptr client_key = make_key();
        const cert_ptr client = make_cert({.common_name = client_common_name,
            .key = client_key.get(),
            .issuer = ca.get(),
            .issuer_key = ca_key.get(),
            .serial = 3});
        const key_ptr other_ca_key = make_key();
        const cert_ptr other_ca =
            make_cert({.common_name = "Untrusted test CA", .key = other_ca_key.get(), .ca = true, .serial = 4});
        const key_ptr other_client_key = make_key();
        const cert_ptr other_client = make_cert({.common_name = "intruder",
            .key = other_client_key.get(),
            .issuer = other_ca.get(),
            .issuer_key = other_ca_key.get(),
            .serial = 5});

        pki.ca_file = (d / "ca.crt").string();
        write_cert(pki.ca_file, ca.get());
        pki.server_cert = (d / "server.crt").string();
        write_cert(pki.server_cert, server.get());
        pki.server_key = (d / "server.key").string();
        write_key(pki.server_key, server_key.get());
        pki.client_cert = (d / "client.crt").string();
        write_cert(pki.client_cert, client.get());
        pki.client_key = (d / "client.key").string();
        write_key(pki.client_key, client_key.get());
        pki.other_ca_file = (d / "other-ca.crt").string();
        write_cert(pki.other_ca_file, other_ca.get());
        pki.other_client_cert = (d / "other-client.crt").string();
        write_cert(pki.other_client_cert, other_client.get());
        pki.other_client_key = (d / "other-client.key").string();
        write_key(pki.other_client_key, other_client_key.get());

        // OpenSSL looks CAs up in a directory by "<subject hash>.0".
        const auto hashed = d / "ca-dir";
        std::filesystem::create_directory(hashed);
        char name[16];
        std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(ca.get()));
        pki.ca_dir = hashed.string();
        write_cert(hashed / name, ca.get());
    }

    ~pki_holder()
    {
        std::error_code ignored;
        std::filesystem::remove_all(pki.dir, ignored);
    }

    pki_holder(const pki_holder&) = delete;
    pki_holder& operator=(const pki_holder&) = delete;
};

} // namespace

const test_pki& test_pki::get()
{
    static const pki_holder holder;
    return holder.pki;
}

} // namespace transport_test
