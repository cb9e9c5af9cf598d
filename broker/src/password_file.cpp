#include "mqtt/broker/password_file.hpp"

#include <array>
#include <charconv>
#include <climits>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace mqtt::broker {

namespace {

constexpr std::size_t sha512_length = 64;
constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool pbkdf2_sha512(std::string_view password, const std::vector<unsigned char>& salt,
    unsigned iterations, std::array<unsigned char, sha512_length>& out) noexcept
{
    if (password.size() > static_cast<std::size_t>(INT_MAX) || salt.size() > static_cast<std::size_t>(INT_MAX) ||
        iterations == 0 || iterations > static_cast<unsigned>(INT_MAX)) {
        return false;
    }
    return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
               static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha512(),
               static_cast<int>(out.size()), out.data()) == 1;
}

// Mosquitto 1.x: SHA-512 over the password followed by the salt.
bool salted_sha512(std::string_view password, const std::vector<unsigned char>& salt,
    std::array<unsigned char, sha512_length>& out) noexcept
{
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) {
        return false;
    }
    unsigned int len = 0;
    const bool ok = EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
        EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
        EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
        EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size();
    EVP_MD_CTX_free(ctx);
    return ok;
}

std::string where(std::string_view name, std::size_t line)
{
    return std::string(name) + ":" + std::to_string(line) + ": ";
}

// Calls f(line_number, line) for each line, without its "\r\n" or "\n".
template <class F>
bool for_each_line(std::string_view text, F&& f)
{
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!f(line_no, line)) {
            return false;
        }
    }
    return true;
}

bool is_blank_or_comment(std::string_view line) noexcept
{
    const std::size_t first = line.find_first_not_of(" \t");
    return first == std::string_view::npos || line[first] == '#';
}

std::string_view trim(std::string_view s) noexcept
{
    const std::size_t b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        return {};
    }
    const std::size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

bool is_hashed(std::string_view field) noexcept
{
    return field.starts_with("$6$") || field.starts_with("$7$");
}

} // namespace

std::string base64_encode(const unsigned char* data, std::size_t size)
{
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const unsigned v = (static_cast<unsigned>(data[i]) << 16) |
            (static_cast<unsigned>(data[i + 1]) << 8) | static_cast<unsigned>(data[i + 2]);
        out += base64_alphabet[(v >> 18) & 63u];
        out += base64_alphabet[(v >> 12) & 63u];
        out += base64_alphabet[(v >> 6) & 63u];
        out += base64_alphabet[v & 63u];
    }
    if (size - i == 1) {
        const unsigned v = static_cast<unsigned>(data[i]) << 16;
        out += base64_alphabet[(v >> 18) & 63u];
        out += base64_alphabet[(v >> 12) & 63u];
        out += "==";
    } else if (size - i == 2) {
        const unsigned v = (static_cast<unsigned>(data[i]) << 16) | (static_cast<unsigned>(data[i + 1]) << 8);
        out += base64_alphabet[(v >> 18) & 63u];
        out += base64_alphabet[(v >> 12) & 63u];
        out += base64_alphabet[(v >> 6) & 63u];
        out += '=';
    }
    return out;
}

bool base64_decode(std::string_view text, std::vector<unsigned char>& out)
{
    out.clear();
    if (text.size() % 4 != 0) {
        return false;
    }
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int v[4];
        std::size_t pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad != 0) {
                return false; // data after padding
            }
            v[k] = base64_value(c);
            if (v[k] < 0) {
                return false;
            }
        }
        const unsigned bits = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
            (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
        out.push_back(static_cast<unsigned char>((bits >> 16) & 0xFFu));
        if (pad < 2) {
            out.push_back(static_cast<unsigned char>((bits >> 8) & 0xFFu));
        }
        if (pad < 1) {
            out.push_back(static_cast<unsigned char>(bits & 0xFFu));
        }
    }
    return true;
}

bool valid_password_username(std::string_view user, std::string& why)
{
    if (user.empty()) {
        why = "the username is empty";
        return false;
    }
    if (user.find(':') != std::string_view::npos) {
        why = "the username contains ':'";
        return false;
    }
    for (const char c : user) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) {
            why = "the username contains a control character";
            return false;
        }
    }
    return true;
}

bool make_password_entry(std::string_view user, std::string_view password, std::string& entry,
    std::string& error, unsigned iterations)
{
    if (!valid_password_username(user, error)) {
        return false;
    }
    std::vector<unsigned char> salt(password_salt_length);
    if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
        error = "the random number generator failed";
        return false;
    }
    std::array<unsigned char, sha512_length> hash{};
    if (!pbkdf2_sha512(password, salt, iterations, hash)) {
        error = "PBKDF2 failed (password too long or bad iteration count)";
        return false;
    }
    entry = std::string(user) + ":$7$" + std::to_string(iterations) + "$" +
        base64_encode(salt.data(), salt.size()) + "$" + base64_encode(hash.data(), hash.size());
    return true;
}

bool password_db::load(const std::string& path, password_db& out, std::string& error)
{
    std::error_code dir_ec;
    if (std::filesystem::is_directory(path, dir_ec)) {
        error = path + ": is a directory, not a password file";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot open the password file";
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        error = path + ": cannot read the password file";
        return false;
    }
    return parse(text.str(), path, out, error);
}

bool password_db::parse(std::string_view text, std::string_view name, password_db& out,
    std::string& error)
{
    password_db db;
    const bool ok = for_each_line(text, [&](std::size_t line_no, std::string_view raw) {
        line l;
        if (is_blank_or_comment(raw)) {
            l.text = std::string(raw);
            db.lines_.push_back(std::move(l));
            return true;
        }
        const std::size_t colon = raw.find(':');
        if (colon == std::string_view::npos) {
            error = where(name, line_no) + "expected 'username:hash'";
            return false;
        }
        const std::string_view user = raw.substr(0, colon);
        const std::string_view field = trim(raw.substr(colon + 1));
        std::string why;
        if (!valid_password_username(user, why)) {
            error = where(name, line_no) + why;
            return false;
        }
        if (const line* previous = db.find(user)) {
            (void)previous;
            error = where(name, line_no) + "user '" + std::string(user) + "' appears more than once";
            return false;
        }
        const std::string who = "user '" + std::string(user) + "': ";
        if (!is_hashed(field)) {
            error = where(name, line_no) + who +
                "the password is not a $7$ (PBKDF2-SHA512) or $6$ (SHA-512) hash; plain-text "
                "passwords are refused (hash the file with mqtt-passwd -U)";
            return false;
        }
        // Split "$N$a$b[$c]" at the '$' signs after the type.
        std::vector<std::string_view> parts;
        std::string_view rest = field.substr(3);
        while (true) {
            const std::size_t d = rest.find('$');
            parts.push_back(rest.substr(0, d));
            if (d == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(d + 1);
        }
        l.user = std::string(user);
        l.text = std::string(field);
        std::string_view salt_text;
        std::string_view hash_text;
        if (field[1] == '7') {
            if (parts.size() != 3) {
                error = where(name, line_no) + who + "expected $7$ITERATIONS$SALT$HASH";
                return false;
            }
            unsigned iterations = 0;
            const auto [end, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), iterations);
            if (ec != std::errc() || end != parts[0].data() + parts[0].size() || iterations == 0 ||
                iterations > static_cast<unsigned>(INT_MAX)) {
                error = where(name, line_no) + who + "invalid iteration count '" + std::string(parts[0]) + "'";
                return false;
            }
            l.k = kind::pbkdf2_sha512;
            l.iterations = iterations;
            salt_text = parts[1];
            hash_text = parts[2];
        } else {
            if (parts.size() != 2) {
                error = where(name, line_no) + who + "expected $6$SALT$HASH";
                return false;
            }
            l.k = kind::sha512;
            salt_text = parts[0];
            hash_text = parts[1];
        }
        if (!base64_decode(salt_text, l.salt) || l.salt.empty()) {
            error = where(name, line_no) + who + "the salt is not valid base64";
            return false;
        }
        if (!base64_decode(hash_text, l.hash) || l.hash.size() != sha512_length) {
            error = where(name, line_no) + who + "the hash is not 64 bytes of base64";
            return false;
        }
        db.lines_.push_back(std::move(l));
        return true;
    });
    if (!ok) {
        return false;
    }
    out = std::move(db);
    return true;
}

const password_db::line* password_db::find(std::string_view user) const noexcept
{
    for (const line& l : lines_) {
        if (l.k != kind::other_line && l.user == user) {
            return &l;
        }
    }
    return nullptr;
}

bool password_db::check(std::string_view user, std::string_view password) const
{
    std::array<unsigned char, sha512_length> computed{};
    const line* l = find(user);
    if (l == nullptr) {
        // Same work as for a known user, so that timing does not tell which users exist.
        static const std::vector<unsigned char> dummy_salt(password_salt_length, 0x5A);
        (void)pbkdf2_sha512(password, dummy_salt, pbkdf2_default_iterations, computed);
        return false;
    }
    const bool ok = l->k == kind::pbkdf2_sha512 ? pbkdf2_sha512(password, l->salt, l->iterations, computed)
                                                : salted_sha512(password, l->salt, computed);
    return ok && l->hash.size() == computed.size() &&
        CRYPTO_memcmp(computed.data(), l->hash.data(), computed.size()) == 0;
}

bool password_db::contains(std::string_view user) const noexcept { return find(user) != nullptr; }

std::size_t password_db::size() const noexcept
{
    std::size_t n = 0;
    for (const line& l : lines_) {
        n += l.k != kind::other_line ? 1u : 0u;
    }
    return n;
}

bool password_db::set_password(std::string_view user, std::string_view password, std::string& error)
{
    std::string entry;
    if (!make_password_entry(user, password, entry, error)) {
        return false;
    }
    password_db parsed;
    if (!parse(entry, "<new entry>", parsed, error) || parsed.lines_.size() != 1) {
        return false;
    }
    line fresh = std::move(parsed.lines_.front());
    for (line& l : lines_) {
        if (l.k != kind::other_line && l.user == user) {
            l = std::move(fresh);
            return true;
        }
    }
    lines_.push_back(std::move(fresh));
    return true;
}

bool password_db::remove(std::string_view user)
{
    for (auto it = lines_.begin(); it != lines_.end(); ++it) {
        if (it->k != kind::other_line && it->user == user) {
            lines_.erase(it);
            return true;
        }
    }
    return false;
}

std::string password_db::to_string() const
{
    std::string out;
    for (const line& l : lines_) {
        if (l.k == kind::other_line) {
            out += l.text;
        } else {
            out += l.user;
            out += ':';
            out += l.text;
        }
        out += '\n';
    }
    return out;
}

bool hash_plain_text_passwords(std::string_view text, std::string_view name, std::string& out,
    std::string& error)
{
    std::string result;
    const bool ok = for_each_line(text, [&](std::size_t line_no, std::string_view raw) {
        if (is_blank_or_comment(raw)) {
            result += raw;
            result += '\n';
            return true;
        }
        const std::size_t colon = raw.find(':');
        if (colon == std::string_view::npos) {
            error = where(name, line_no) + "expected 'username:password'";
            return false;
        }
        const std::string_view user = raw.substr(0, colon);
        const std::string_view secret = raw.substr(colon + 1);
        if (is_hashed(trim(secret))) {
            result += raw; // already hashed: hashing the hash would lock the user out
            result += '\n';
            return true;
        }
        std::string entry;
        std::string why;
        if (!make_password_entry(user, secret, entry, why)) {
            error = where(name, line_no) + why;
            return false;
        }
        result += entry;
        result += '\n';
        return true;
    });
    if (!ok) {
        return false;
    }
    out = std::move(result);
    return true;
}

} // namespace mqtt::broker
