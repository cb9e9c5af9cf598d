// Password files: Mosquitto 2 format, PBKDF2-SHA512, and compatibility with the
// real mosquitto_passwd and mosquitto when they are installed.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/broker/password_file.hpp"

extern char** environ;

using mqtt::broker::password_db;

namespace {

// Salt bytes 0..11; expected values computed independently with Python's hashlib.
constexpr const char* salt_b64 = "AAECAwQFBgcICQoL";
constexpr const char* pbkdf2_secret_101 =
    "Xr99N9ym9ys8TWxis5ajETJq6EVYzmc6nb8t3pUYnPBbCAbICS4xejTltonXWCtJNBvA+By+TXUqU6qCblO00w==";
constexpr const char* pbkdf2_utf8_1000 =
    "BWpixZTLggHa0JAF7YE3hgx5++jXdeOURt/d1T+8D3vh/Q8Bcx/obpZdBmwqZJQ8Rqcf8vRTJw1whMKhdpXyJA==";
constexpr const char* sha512_secret =
    "JqsxEv/ucyxjA5DKsQ+Y8CDWaQDNQI9FpAkmfwAqWfwZLk/JEGgM0EpylrJHAZKKyFQjJeZ3nFaHjPzOzPPmPw==";

password_db parse_ok(const std::string& text)
{
    password_db db;
    std::string error;
    const bool ok = password_db::parse(text, "pw", db, error);
    INFO(error);
    REQUIRE(ok);
    return db;
}

std::string parse_error(const std::string& text)
{
    password_db db;
    std::string error;
    REQUIRE_FALSE(password_db::parse(text, "pw", db, error));
    return error;
}

struct temp_dir {
    std::string path;
    temp_dir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pwtest.XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        REQUIRE(::mkdtemp(buf.data()) != nullptr);
        path = buf.data();
    }
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_text(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

// The tool sits in <build>/broker/ and this test in <build>/tests/broker/;
// MQTT_PASSWD overrides.
std::string passwd_tool_path()
{
    if (const char* env = std::getenv("MQTT_PASSWD")) {
        return env;
    }
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return "mqtt-passwd";
    }
    return (exe.parent_path().parent_path().parent_path() / "broker" / "mqtt-passwd").string();
}

bool program_exists(const std::string& name)
{
    for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/"}) {
        if (::access((std::string(dir) + name).c_str(), X_OK) == 0) {
            return true;
        }
    }
    return false;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log_file = {})
{
    std::vector<char*> argv;
    for (const std::string& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = log_file.empty() ? "/dev/null" : log_file;
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

int run(const std::vector<std::string>& args)
{
    const pid_t pid = spawn(args);
    if (pid < 0) {
        return -1;
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::uint16_t free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

bool port_open(std::uint16_t port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

} // namespace

TEST_CASE("base64 encodes and decodes the RFC 4648 vectors", "[broker][password]")
{
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        CHECK(mqtt::broker::base64_encode(reinterpret_cast<const unsigned char*>(plain.data()), plain.size()) == encoded);
        std::vector<unsigned char> out;
        REQUIRE(mqtt::broker::base64_decode(encoded, out));
        CHECK(std::string(out.begin(), out.end()) == plain);
    }
    std::vector<unsigned char> out;
    CHECK_FALSE(mqtt::broker::base64_decode("Zg=", out));   // length not a multiple of 4
    CHECK_FALSE(mqtt::broker::base64_decode("Z===", out));  // too much padding
    CHECK_FALSE(mqtt::broker::base64_decode("Zg=a", out));  // data after padding
    CHECK_FALSE(mqtt::broker::base64_decode("Zg==Zg==", out)); // padding in the middle
    CHECK_FALSE(mqtt::broker::base64_decode("Zm9*", out));  // not in the alphabet
}

TEST_CASE("PBKDF2-SHA512 $7$ entries verify against independently computed hashes", "[broker][password]")
{
    const password_db db = parse_ok(std::string("alice:$7$101$") + salt_b64 + "$" + pbkdf2_secret_101 +
        "\nbob:$7$1000$" + salt_b64 + "$" + pbkdf2_utf8_1000 + "\n");
    CHECK(db.size() == 2);
    CHECK(db.check("alice", "secret"));
    CHECK_FALSE(db.check("alice", "Secret"));
    CHECK_FALSE(db.check("alice", "secret "));
    CHECK_FALSE(db.check("alice", ""));
    CHECK(db.check("bob", "p\xc3\xa4ss:word")); // the iteration count is read from the entry
    CHECK_FALSE(db.check("bob", "secret"));
    CHECK_FALSE(db.check("carol", "secret"));
    CHECK_FALSE(db.check("", "secret"));
}

TEST_CASE("Mosquitto 1.x $6$ salted SHA-512 entries are read", "[broker][password]")
{
    const password_db db = parse_ok(std::string("old:$6$") + salt_b64 + "$" + sha512_secret + "\r\n");
    CHECK(db.check("old", "secret"));
    CHECK_FALSE(db.check("old", "secreT"));
}

TEST_CASE("made entries use $7$, 101 iterations, a 12-byte random salt and verify", "[broker][password]")
{
    std::string a;
    std::string b;
    std::string error;
    REQUIRE(mqtt::broker::make_password_entry("alice", "pa ss", a, error));
    REQUIRE(mqtt::broker::make_password_entry("alice", "pa ss", b, error));
    CHECK(a != b); // fresh salt each time
    REQUIRE(a.starts_with("alice:$7$101$"));
    const std::string rest = a.substr(std::string("alice:$7$101$").size());
    const auto dollar = rest.find('$');
    REQUIRE(dollar != std::string::npos);
    std::vector<unsigned char> salt;
    std::vector<unsigned char> hash;
    REQUIRE(mqtt::broker::base64_decode(rest.substr(0, dollar), salt));
    REQUIRE(mqtt::broker::base64_decode(rest.substr(dollar + 1), hash));
    CHECK(salt.size() == 12);
    CHECK(hash.size() == 64);
    CHECK(a.find("pa ss") == std::string::npos); // never the plain text

    const password_db db = parse_ok(a + "\n");
    CHECK(db.check("alice", "pa ss"));
    CHECK_FALSE(db.check("alice", "pass"));
}

TEST_CASE("usernames that would break the file are refused", "[broker][password]")
{
    std::string entry;
    std::string error;
    CHECK_FALSE(mqtt::broker::make_password_entry("", "x", entry, error));
    CHECK_FALSE(mqtt::broker::make_password_entry("a:b", "x", entry, error));
    CHECK(error.find("':'") != std::string::npos);
    CHECK_FALSE(mqtt::broker::make_password_entry("a\nb", "x", entry, error));
    CHECK(mqtt::broker::make_password_entry("a b+#/", "x", entry, error));
}

TEST_CASE("password file errors name the file and line", "[broker][password]")
{
    const std::string good = std::string("alice:$7$101$") + salt_b64 + "$" + pbkdf2_secret_101 + "\n";
    CHECK(parse_error(good + "bob:plaintext\n").starts_with("pw:2: user 'bob': the password is not"));
    CHECK(parse_error("# comment\n\njustaname\n") == "pw:3: expected 'username:hash'");
    CHECK(parse_error(":$7$101$AAAA$AAAA\n").starts_with("pw:1: the username is empty"));
    CHECK(parse_error(good + good).starts_with("pw:2: user 'alice' appears more than once"));
    CHECK(parse_error("u:$7$abc$" + std::string(salt_b64) + "$" + pbkdf2_secret_101).starts_with(
        "pw:1: user 'u': invalid iteration count 'abc'"));
    CHECK(parse_error("u:$7$0$" + std::string(salt_b64) + "$" + pbkdf2_secret_101).starts_with(
        "pw:1: user 'u': invalid iteration count '0'"));
    CHECK(parse_error("u:$7$101$" + std::string(salt_b64)).starts_with("pw:1: user 'u': expected $7$"));
    CHECK(parse_error("u:$6$" + std::string(salt_b64) + "$x$y").starts_with("pw:1: user 'u': expected $6$"));
    CHECK(parse_error("u:$7$101$!!!!$" + std::string(pbkdf2_secret_101)).starts_with(
        "pw:1: user 'u': the salt is not valid base64"));
    CHECK(parse_error("u:$7$101$" + std::string(salt_b64) + "$Zm9v").starts_with(
        "pw:1: user 'u': the hash is not 64 bytes"));

    password_db db;
    std::string error;
    CHECK_FALSE(password_db::load("/nonexistent/dir/pw", db, error));
    CHECK(error.starts_with("/nonexistent/dir/pw: cannot open"));
    CHECK_FALSE(password_db::load("/", db, error));
    CHECK(error == "/: is a directory, not a password file");
}

TEST_CASE("editing keeps comments and order, replaces and removes entries", "[broker][password]")
{
    password_db db = parse_ok(std::string("# users\nalice:$7$101$") + salt_b64 + "$" + pbkdf2_secret_101 +
        "\n\nold:$6$" + salt_b64 + "$" + sha512_secret + "\n");
    std::string error;
    REQUIRE(db.set_password("alice", "new", error));
    REQUIRE(db.set_password("zed", "z", error));
    CHECK(db.check("alice", "new"));
    CHECK_FALSE(db.check("alice", "secret"));
    CHECK(db.remove("old"));
    CHECK_FALSE(db.remove("old"));
    CHECK_FALSE(db.contains("old"));
    const std::string text = db.to_string();
    CHECK(text.starts_with("# users\nalice:$7$101$"));
    CHECK(text.find("\n\nzed:$7$101$") != std::string::npos);
    const password_db again = parse_ok(text);
    CHECK(again.size() == 2);
    CHECK(again.check("zed", "z"));
    CHECK(again.check("alice", "new"));
}

TEST_CASE("plain-text files are hashed line by line, hashed lines kept", "[broker][password]")
{
    const std::string hashed_line = std::string("old:$6$") + salt_b64 + "$" + sha512_secret;
    std::string out;
    std::string error;
    REQUIRE(mqtt::broker::hash_plain_text_passwords("# c\nalice:pw:with:colons\n" + hashed_line + "\n", "f", out, error));
    const password_db db = parse_ok(out);
    CHECK(db.check("alice", "pw:with:colons"));
    CHECK(db.check("old", "secret"));
    CHECK(out.starts_with("# c\n"));
    CHECK(out.find("pw:with:colons") == std::string::npos);
    CHECK_FALSE(mqtt::broker::hash_plain_text_passwords("ok:x\nnocolon\n", "f", out, error));
    CHECK(error == "f:2: expected 'username:password'");
}

TEST_CASE("mqtt-passwd creates, updates and deletes entries in a 0600 file", "[broker][password][tool]")
{
    const std::string tool = passwd_tool_path();
    if (::access(tool.c_str(), X_OK) != 0) {
        WARN("mqtt-passwd not built at " << tool << "; skipping");
        return;
    }
    temp_dir dir;
    const std::string pw = dir.file("pw");
    CHECK(run({tool, "-b", pw, "alice", "one"}) != 0); // no -c and no file
    REQUIRE(run({tool, "-c", "-b", pw, "alice", "one"}) == 0);
    REQUIRE(run({tool, "-b", pw, "bob", "two"}) == 0);
    REQUIRE(run({tool, "-b", pw, "alice", "three"}) == 0);
    struct stat st {};
    REQUIRE(::stat(pw.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    password_db db;
    std::string error;
    REQUIRE(password_db::load(pw, db, error));
    CHECK(db.size() == 2);
    CHECK(db.check("alice", "three"));
    CHECK(db.check("bob", "two"));
    CHECK(slurp(pw).find("three") == std::string::npos);

    REQUIRE(run({tool, "-D", pw, "alice"}) == 0);
    CHECK(run({tool, "-D", pw, "alice"}) != 0);
    REQUIRE(password_db::load(pw, db, error));
    CHECK_FALSE(db.contains("alice"));
    CHECK(db.check("bob", "two"));

    CHECK(run({tool, "-c", "-D", pw, "bob"}) != 0);
    CHECK(run({tool, "-b", pw, "a:b", "x"}) != 0);
    CHECK(run({tool, "-c", "-b", pw, "carol", "four"}) == 0); // -c overwrites
    REQUIRE(password_db::load(pw, db, error));
    CHECK(db.size() == 1);

    const std::string plain = dir.file("plain");
    write_text(plain, "dave:five\n");
    REQUIRE(run({tool, "-U", plain}) == 0);
    REQUIRE(password_db::load(plain, db, error));
    CHECK(db.check("dave", "five"));
    REQUIRE(run({tool, "-U", plain}) == 0); // hashed lines are left alone
    REQUIRE(password_db::load(plain, db, error));
    CHECK(db.check("dave", "five"));
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir.path, ec)) {
        CHECK(e.path().filename().string().find(".XXXXXX") == std::string::npos);
        CHECK(e.path().filename().string().rfind("pw.", 0) != 0); // no temporary file left behind
    }
}

TEST_CASE("files made by mosquitto_passwd verify with our password_db", "[broker][password][interop]")
{
    if (!program_exists("mosquitto_passwd")) {
        WARN("mosquitto_passwd not installed; skipping the Mosquitto compatibility check");
        return;
    }
    temp_dir dir;
    const std::string pw = dir.file("pw");
    REQUIRE(run({"mosquitto_passwd", "-c", "-b", pw, "alice", "s3cret!"}) == 0);
    REQUIRE(run({"mosquitto_passwd", "-b", pw, "bob", "p\xc3\xa4ss word"}) == 0);
    password_db db;
    std::string error;
    const bool ok = password_db::load(pw, db, error);
    INFO(error << "\n" << slurp(pw));
    REQUIRE(ok);
    CHECK(db.check("alice", "s3cret!"));
    CHECK(db.check("bob", "p\xc3\xa4ss word"));
    CHECK_FALSE(db.check("alice", "s3cret"));
    CHECK(slurp(pw).find(":$7$101$") != std::string::npos);
}

TEST_CASE("entries we make are accepted by a real mosquitto broker", "[broker][password][interop]")
{
    if (!program_exists("mosquitto") || !program_exists("mosquitto_pub")) {
        WARN("mosquitto or mosquitto_pub not installed; skipping the Mosquitto compatibility check");
        return;
    }
    temp_dir dir;
    std::string entry;
    std::string error;
    REQUIRE(mqtt::broker::make_password_entry("alice", "0ur-s3cret", entry, error));
    write_text(dir.file("pw"), entry + "\n");
    const std::uint16_t port = free_port();
    REQUIRE(port != 0);
    write_text(dir.file("m.conf"), "listener " + std::to_string(port) + " 127.0.0.1\nallow_anonymous false\n"
        "password_file " + dir.file("pw") + "\nuser root\n");
    const pid_t broker = spawn({"mosquitto", "-c", dir.file("m.conf")}, dir.file("log"));
    REQUIRE(broker > 0);
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) { // readiness wait, not a timing assertion
        up = port_open(port);
        if (!up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    const std::string p = std::to_string(port);
    int good = -1;
    int bad = -1;
    if (up) {
        good = run({"mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-u", "alice", "-P", "0ur-s3cret", "-t", "t", "-m", "x"});
        bad = run({"mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-u", "alice", "-P", "wrong", "-t", "t", "-m", "x"});
    }
    ::kill(broker, SIGTERM);
    int status = 0;
    ::waitpid(broker, &status, 0);
    INFO(slurp(dir.file("log")));
    REQUIRE(up);
    CHECK(good == 0);
    CHECK(bad != 0);
}
