// mqtt-passwd: creates and updates password files for mqtt-broker, in the
// format of Mosquitto 2's mosquitto_passwd (PBKDF2-SHA512).
//   mqtt-passwd [-c] passwordfile username            prompt for the password
//   mqtt-passwd [-c] -b passwordfile username password
//   mqtt-passwd -D passwordfile username               delete the user
//   mqtt-passwd -U passwordfile                        hash a plain-text file
// The file is replaced atomically (temporary file, fsync, rename) with mode 0600.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "mqtt/broker/password_file.hpp"

namespace {

constexpr std::size_t max_password_length = 65535; // an MQTT binary field

void usage(std::ostream& os)
{
    os << "mqtt-passwd: manage password files for mqtt-broker (Mosquitto 2 compatible)\n"
          "\n"
          "Usage: mqtt-passwd [-c] passwordfile username\n"
          "       mqtt-passwd [-c] -b passwordfile username password\n"
          "       mqtt-passwd -D passwordfile username\n"
          "       mqtt-passwd -U passwordfile\n"
          "\n"
          " -c  create a new password file; an existing file is overwritten\n"
          " -b  take the password from the command line (it shows in the process list\n"
          "     and in the shell history: prefer the prompt)\n"
          " -D  delete the user from the file\n"
          " -U  hash every plain-text 'username:password' line of the file\n"
          " -h  this help\n"
          "\n"
          "Without -b the password is read twice from the terminal, without echo.\n"
          "Entries are $7$ PBKDF2-SHA512 hashes (101 iterations, 12-byte random salt).\n";
}

bool read_file(const std::string& path, std::string& text, std::string& error)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) {
        error = path + ": read error";
        return false;
    }
    text = s.str();
    return true;
}

bool file_exists(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Readers never see a half-written file: write a sibling, sync it, rename it over.
bool write_file_atomically(const std::string& path, std::string_view text, std::string& error)
{
    std::string tmp = path + ".XXXXXX";
    std::vector<char> name(tmp.begin(), tmp.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
        error = "cannot create a temporary file next to " + path + ": " + std::strerror(errno);
        return false;
    }
    tmp.assign(name.data());
    bool ok = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
    const int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        error = "cannot write " + tmp + ": " + std::strerror(saved);
        ::unlink(tmp.c_str());
        return false;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot replace " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    // Make the rename itself durable.
    const std::size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

// Terminal state to restore if the user interrupts the prompt.
int g_tty_fd = -1;
struct termios g_saved_tty {};
volatile std::sig_atomic_t g_echo_off = 0;

extern "C" void restore_tty_and_exit(int sig)
{
    if (g_echo_off != 0 && g_tty_fd >= 0) {
        ::tcsetattr(g_tty_fd, TCSANOW, &g_saved_tty);
        (void)::write(g_tty_fd, "\n", 1);
    }
    ::_exit(128 + sig);
}

bool read_line(int fd, std::string& out)
{
    out.clear();
    char c = 0;
    while (true) {
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return !out.empty();
        }
        if (c == '\n') {
            return true;
        }
        if (out.size() > max_password_length) {
            return false;
        }
        out += c;
    }
}

bool prompt_password(const char* prompt, int fd, bool is_tty, std::string& out)
{
    if (is_tty) {
        (void)write_all(fd, prompt);
        struct termios quiet = g_saved_tty;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        g_echo_off = 1;
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    const bool ok = read_line(fd, out);
    if (is_tty) {
        ::tcsetattr(fd, TCSANOW, &g_saved_tty);
        g_echo_off = 0;
        (void)write_all(fd, "\n");
    }
    if (!out.empty() && out.back() == '\r') {
        out.pop_back();
    }
    return ok;
}

// Twice from the terminal with echo off; from standard input when there is no terminal.
bool get_password(std::string& password, std::string& error)
{
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    const bool is_tty = fd >= 0 && ::tcgetattr(fd, &g_saved_tty) == 0;
    if (!is_tty) {
        if (fd >= 0) {
            ::close(fd);
        }
        fd = STDIN_FILENO;
    } else {
        g_tty_fd = fd;
        std::signal(SIGINT, restore_tty_and_exit);
        std::signal(SIGTERM, restore_tty_and_exit);
        std::signal(SIGHUP, restore_tty_and_exit);
    }
    std::string again;
    const bool ok = prompt_password("Password: ", fd, is_tty, password) &&
        prompt_password("Reenter password: ", fd, is_tty, again);
    if (is_tty) {
        ::close(fd);
        g_tty_fd = -1;
    }
    if (!ok) {
        error = "no password read";
        return false;
    }
    if (password != again) {
        error = "passwords do not match";
        return false;
    }
    return true;
}

int fail(const std::string& message)
{
    std::cerr << "mqtt-passwd: " << message << '\n';
    return 1;
}

} // namespace

int main(int argc, char** argv)
{
    bool create = false;
    bool batch = false;
    bool remove = false;
    bool upgrade = false;
    std::vector<std::string> args;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (!options_done && a == "--") {
            options_done = true;
        } else if (!options_done && (a == "-h" || a == "--help")) {
            usage(std::cout);
            return 0;
        } else if (!options_done && a.size() > 1 && a.front() == '-') {
            // Flags may be combined, as in -cb.
            for (const char c : a.substr(1)) {
                switch (c) {
                case 'c': create = true; break;
                case 'b': batch = true; break;
                case 'D': remove = true; break;
                case 'U': upgrade = true; break;
                default:
                    usage(std::cerr);
                    return fail(std::string("unknown option -") + c);
                }
            }
        } else {
            args.emplace_back(a);
        }
    }
    if (create && remove) {
        return fail("-c and -D cannot be used together");
    }
    if (upgrade && (create || batch || remove)) {
        return fail("-U cannot be combined with -c, -b or -D");
    }
    if (remove && batch) {
        return fail("-b and -D cannot be used together");
    }
    const std::size_t wanted = upgrade ? 1 : (batch ? 3 : 2);
    if (args.size() != wanted) {
        usage(std::cerr);
        return 1;
    }
    const std::string& path = args[0];
    std::string error;

    if (upgrade) {
        std::string text;
        std::string hashed;
        if (!read_file(path, text, error) || !mqtt::broker::hash_plain_text_passwords(text, path, hashed, error)) {
            return fail(error);
        }
        mqtt::broker::password_db check;
        if (!mqtt::broker::password_db::parse(hashed, path, check, error)) {
            return fail(error);
        }
        return write_file_atomically(path, hashed, error) ? 0 : fail(error);
    }

    const std::string& user = args[1];
    if (!mqtt::broker::valid_password_username(user, error)) {
        return fail(error);
    }
    mqtt::broker::password_db db;
    if (!create) {
        if (!file_exists(path)) {
            return fail(path + " does not exist (use -c to create it)");
        }
        if (!mqtt::broker::password_db::load(path, db, error)) {
            return fail(error);
        }
    }

    if (remove) {
        if (!db.remove(user)) {
            return fail("user '" + user + "' is not in " + path);
        }
        return write_file_atomically(path, db.to_string(), error) ? 0 : fail(error);
    }

    std::string password;
    if (batch) {
        password = args[2];
    } else if (!get_password(password, error)) {
        return fail(error);
    }
    if (password.empty()) {
        return fail("empty password refused");
    }
    if (password.size() > max_password_length) {
        return fail("password longer than 65535 bytes");
    }
    if (user.find_first_of("+#/") != std::string::npos) {
        std::cerr << "mqtt-passwd: warning: '" << user
                  << "' contains '+', '#' or '/': ACL patterns with %u grant this user nothing\n";
    }
    if (!db.set_password(user, password, error)) {
        return fail(error);
    }
    return write_file_atomically(path, db.to_string(), error) ? 0 : fail(error);
}
