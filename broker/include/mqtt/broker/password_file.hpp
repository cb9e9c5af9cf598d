#pragma once
// Password files in Mosquitto 2's format, one `username:hash` per line:
//   $7$ITERATIONS$SALT$HASH  PBKDF2-HMAC-SHA512 (what we write; 101 iterations,
//                            12-byte salt, 64-byte hash, standard base64)
//   $6$SALT$HASH             SHA-512(password || salt), Mosquitto 1.x (read only)
// Lines starting with '#' and blank lines are kept as they are. Plain-text
// passwords are refused. Files written by mosquitto_passwd verify here and the
// other way round.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mqtt::broker {

inline constexpr unsigned pbkdf2_default_iterations = 101;
inline constexpr std::size_t password_salt_length = 12;

// A username may be stored when it is non-empty and has no ':' and no control
// character (a line break would split the file). Sets `why` otherwise.
bool valid_password_username(std::string_view user, std::string& why);

// "user:$7$101$SALT$HASH" with a fresh random salt. False (and `error`) when the
// username is not valid or the random generator fails.
bool make_password_entry(std::string_view user, std::string_view password, std::string& entry,
    std::string& error, unsigned iterations = pbkdf2_default_iterations);

class password_db {
public:
    // Reads a password file; on failure `error` is "FILE:LINE: reason".
    static bool load(const std::string& path, password_db& out, std::string& error);
    static bool parse(std::string_view text, std::string_view name, password_db& out,
        std::string& error);

    // True only for a known user whose password matches; the hash comparison is
    // constant-time and an unknown user costs the same work as a known one.
    bool check(std::string_view user, std::string_view password) const;

    bool contains(std::string_view user) const noexcept;
    std::size_t size() const noexcept;

    // Editing, for mqtt-passwd: adds or replaces the user's entry (false and
    // `error` as make_password_entry), or removes it (false when absent).
    bool set_password(std::string_view user, std::string_view password, std::string& error);
    bool remove(std::string_view user);
    // The file text: comments and blank lines where they were, one entry a line.
    std::string to_string() const;

private:
    enum class kind : std::uint8_t { pbkdf2_sha512, sha512, other_line };
    struct line {
        kind k = kind::other_line;
        std::string text;        // the whole line for other_line, else the hash field
        std::string user;
        unsigned iterations = 0;
        std::vector<unsigned char> salt;
        std::vector<unsigned char> hash;
    };
    const line* find(std::string_view user) const noexcept;

    std::vector<line> lines_;
};

// mqtt-passwd -U: turns `user:plaintext` lines into hashed entries; lines already
// hashed ($6$ / $7$), comments and blank lines are kept. False and `error`
// ("NAME:LINE: reason") on a line that is not `user:password`.
bool hash_plain_text_passwords(std::string_view text, std::string_view name, std::string& out,
    std::string& error);

// Standard base64 with padding, as Mosquitto writes it.
std::string base64_encode(const unsigned char* data, std::size_t size);
bool base64_decode(std::string_view text, std::vector<unsigned char>& out);

} // namespace mqtt::broker
