// TLS contexts for both roles, client-side verification settings and the
// peer certificate's Common Name.
#include "tls_context.hpp"

#include <filesystem>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace mqtt::transport::detail {
namespace {

void set_protocol_floor(ssl::context& ctx)
{
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
}

error_code last_ssl_error()
{
    const auto err = ERR_get_error();
    return {static_cast<int>(err), asio::error::get_ssl_category()};
}

std::string describe(const error_code& ec)
{
    return ec ? ec.message() : std::string("unknown error");
}

// OpenSSL only looks into a CA directory when it needs an issuer, so a typo
// would surface as "unable to get local issuer certificate"; say it up front.
bool is_directory(const std::string& path)
{
    std::error_code ec;
    return std::filesystem::is_directory(path, ec);
}

} // namespace

std::shared_ptr<ssl::context> make_client_tls_context(const tls_options& options, error_code& ec)
{
    ec.clear();
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    set_protocol_floor(*ctx);

    if (options.verify_peer) {
        error_code load_ec;
        if (!options.ca_file.empty()) ctx->load_verify_file(options.ca_file, load_ec);
        if (!load_ec && !options.ca_path.empty()) {
            if (is_directory(options.ca_path))
                ctx->add_verify_path(options.ca_path, load_ec);
            else
                load_ec = make_error_code(boost::system::errc::not_a_directory);
        }
        if (!load_ec && options.ca_file.empty() && options.ca_path.empty()) ctx->set_default_verify_paths(load_ec);
        if (load_ec) {
            ec = transport_errc::tls_ca_failed;
            return nullptr;
        }
    }

    if (!options.cert_file.empty()) {
        error_code load_ec;
        ctx->use_certificate_chain_file(options.cert_file, load_ec);
        if (load_ec) {
            ec = transport_errc::tls_certificate_failed;
            return nullptr;
        }
        // The key may sit in the certificate's PEM file.
        const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
        ctx->use_private_key_file(key, ssl::context::pem, load_ec);
        if (load_ec || SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
            ERR_clear_error();
            ec = transport_errc::tls_key_failed;
            return nullptr;
        }
    } else if (!options.key_file.empty()) {
        ec = transport_errc::tls_certificate_failed; // a key without its certificate is a mistake
        return nullptr;
    }
    return ctx;
}

void configure_client_tls(tls_layer& tls, const endpoint& ep, error_code& ec)
{
    ec.clear();
    const std::string& name = ep.tls.server_name.empty() ? ep.host : ep.tls.server_name;

    // SNI carries DNS names only (RFC 6066, section 3).
    error_code not_address;
    (void)asio::ip::make_address(name, not_address);
    if (not_address && SSL_set_tlsext_host_name(tls.native_handle(), name.c_str()) != 1) {
        ec = last_ssl_error();
        return;
    }

    if (!ep.tls.verify_peer) {
        tls.set_verify_mode(ssl::verify_none, ec);
        return;
    }
    tls.set_verify_mode(ssl::verify_peer, ec);
    if (!ec && ep.tls.verify_hostname) tls.set_verify_callback(ssl::host_name_verification(name), ec);
}

std::string verified_peer_common_name(SSL* ssl)
{
    if (ssl == nullptr) return {};
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) return {};
    // Only a certificate that went through verification names anybody.
    if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0 || SSL_get_verify_result(ssl) != X509_V_OK) return {};

    X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0 || utf8 == nullptr) return {};
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    // An embedded NUL could make "admin\0.evil" pass as "admin".
    if (cn.find('\0') != std::string::npos) return {};
    return cn;
}

} // namespace mqtt::transport::detail

namespace mqtt::transport {

std::shared_ptr<server_tls_context> make_server_tls_context(const tls_options& options, std::string& error)
{
    auto fail = [&](std::string message) -> std::shared_ptr<server_tls_context> {
        ERR_clear_error();
        error = std::move(message);
        return nullptr;
    };
    namespace ssl = boost::asio::ssl;
    using detail::describe;

    if (options.cert_file.empty()) return fail("TLS needs a certificate file (certfile)");
    if (options.key_file.empty()) return fail("TLS needs a private key file (keyfile)");
    if (options.require_client_certificate && options.ca_file.empty() && options.ca_path.empty())
        return fail("requiring client certificates needs a CA file or CA directory to verify them with");

    std::shared_ptr<server_tls_context> result;
    try {
        result = std::make_shared<server_tls_context>();
    } catch (const std::exception& e) {
        return fail(std::string("cannot create a TLS context: ") + e.what());
    }
    auto& ctx = result->context;
    detail::set_protocol_floor(ctx);
    ctx.set_options(ssl::context::single_dh_use);
    // A broker holds many mostly idle connections: free TLS buffers between records.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);

    error_code ec;
    ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) return fail("cannot load the certificate chain '" + options.cert_file + "': " + describe(ec));
    ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) return fail("cannot load the private key '" + options.key_file + "': " + describe(ec));
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
        return fail("the private key '" + options.key_file + "' does not match the certificate '" + options.cert_file + "'");

    if (!options.ca_file.empty()) {
        ctx.load_verify_file(options.ca_file, ec);
        if (ec) return fail("cannot load the CA file '" + options.ca_file + "': " + describe(ec));
        // Tell clients which issuers we accept, so they pick the right certificate.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    }
    if (!options.ca_path.empty()) {
        if (!detail::is_directory(options.ca_path)) return fail("the CA directory '" + options.ca_path + "' is not a directory");
        ctx.add_verify_path(options.ca_path, ec);
        if (ec) return fail("cannot use the CA directory '" + options.ca_path + "': " + describe(ec));
    }

    // With a CA, a client certificate is asked for (and must verify if sent);
    // require_client_certificate makes it mandatory.
    ssl::verify_mode mode = ssl::verify_none;
    if (options.require_client_certificate)
        mode = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
    else if (!options.ca_file.empty() || !options.ca_path.empty())
        mode = ssl::verify_peer;
    ctx.set_verify_mode(mode, ec);
    if (ec) return fail("cannot set the TLS verify mode: " + describe(ec));

    // Session resumption with client verification needs a session id context.
    static constexpr unsigned char session_context[] = {'m', 'q', 't', 't'};
    SSL_CTX_set_session_id_context(ctx.native_handle(), session_context, sizeof session_context);
    error.clear();
    return result;
}

} // namespace mqtt::transport
