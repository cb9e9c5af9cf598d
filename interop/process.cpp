#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

namespace interop {

// ---------------------------------------------------------------- temp_dir

temp_dir::temp_dir(std::string_view prefix)
{
    auto base = std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX");
    std::string pattern = base.string();
    if (::mkdtemp(pattern.data()) != nullptr)
        path_ = pattern;
}

temp_dir::~temp_dir()
{
    if (path_.empty())
        return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

// ---------------------------------------------------------------- files

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, std::string_view content)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

// ---------------------------------------------------------------- process

process::process(std::vector<std::string> argv, std::string input) : dir_("mqtt-proc")
{
    for (auto& a : argv)
        command_ += (command_.empty() ? "" : " ") + a;
    if (argv.empty() || dir_.path().empty()) {
        error_ = "nothing to run";
        return;
    }
    const auto in_path = input.empty() ? std::string("/dev/null") : dir_.file("stdin");
    if (!input.empty())
        write_file(in_path, input);
    const auto out_path = dir_.file("stdout");
    const auto err_path = dir_.file("stderr");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);

    // Children start with default signal handling and its own process group, so a
    // terminal's Ctrl-C reaches the test runner, which cleans them up.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        error_ = "cannot start " + argv[0] + ": " + std::strerror(rc);
        return;
    }
    pid_ = pid;
}

process::~process()
{
    if (pid_ > 0 && !status_)
        stop(1s);
}

namespace {

int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

} // namespace

std::optional<int> process::wait(std::chrono::milliseconds timeout)
{
    if (status_ || pid_ <= 0)
        return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            status_ = decode_status(status);
            return status_;
        }
        if (r < 0 && errno != EINTR) {
            status_ = -1;
            return status_;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
}

bool process::running()
{
    return pid_ > 0 && !wait(0ms).has_value();
}

void process::signal(int sig)
{
    if (pid_ > 0 && !status_)
        ::kill(pid_, sig);
}

int process::stop(std::chrono::milliseconds grace)
{
    if (pid_ <= 0)
        return -1;
    if (!status_) {
        ::kill(pid_, SIGTERM);
        if (!wait(grace)) {
            ::kill(pid_, SIGKILL);
            wait(10s);
        }
    }
    return status_.value_or(-1);
}

std::string process::out() const
{
    return read_file(dir_.file("stdout"));
}

std::string process::err() const
{
    return read_file(dir_.file("stderr"));
}

bool process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout, bool from_stderr)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto text = from_stderr ? err() : out();
        if (text.find(needle) != std::string::npos)
            return true;
        if (!running()) {
            text = from_stderr ? err() : out();
            return text.find(needle) != std::string::npos;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

command_result run(std::vector<std::string> argv, std::chrono::milliseconds timeout, std::string input)
{
    process p(std::move(argv), std::move(input));
    command_result r;
    if (!p.started()) {
        r.err = p.start_error();
        return r;
    }
    auto code = p.wait(timeout);
    if (!code) {
        r.timed_out = true;
        code = p.stop(1s);
    }
    r.code = *code;
    r.out = p.out();
    r.err = p.err();
    return r;
}

// ---------------------------------------------------------------- ports

std::uint16_t free_port()
{
    for (int attempt = 0; attempt < 50; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            continue;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        std::uint16_t port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0
            && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            port = ntohs(addr.sin_port);
        ::close(fd);
        if (port != 0 && port != 1883)
            return port;
    }
    return 0;
}

bool wait_port(std::uint16_t port, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(port);
            bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            ::close(fd);
            if (ok)
                return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

} // namespace interop
