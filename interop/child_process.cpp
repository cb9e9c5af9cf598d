#include "child_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace interop {

namespace {

// Connects to [::1]:port (port 0: only checks that a socket can bind there).
bool try_v6(std::uint16_t port)
{
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    addr.sin6_port = htons(port);
    bool ok = port == 0 ? ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0
                        : ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

} // namespace

bool have_ipv6_loopback()
{
    return try_v6(0);
}

bool wait_port_v6(std::uint16_t port, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (try_v6(port))
            return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

bool pick_free_ports(const std::vector<std::uint16_t*>& ports, std::string& error)
{
    for (auto* port : ports) {
        *port = free_port();
        if (*port == 0) {
            error = "no free port";
            return false;
        }
    }
    return true;
}

child_process::~child_process()
{
    if (proc_)
        proc_->stop(3s);
}

void child_process::start_on_free_ports(std::string& error, const std::function<bool()>& configure,
    const std::function<bool()>& start)
{
    for (int attempt = 0; attempt < 5; ++attempt) {
        error.clear();
        if (!configure())
            return;
        if (start())
            return;
        if (proc_)
            proc_->stop(2s);
    }
}

bool child_process::start(std::vector<std::string> argv, const std::vector<std::uint16_t>& ports,
    std::uint16_t v6_port, const std::string& log_file, std::string& error)
{
    if (proc_ && proc_->running())
        return true;
    proc_ = std::make_unique<process>(std::move(argv));
    if (!proc_->started()) {
        error = proc_->start_error();
        return false;
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto up = [&](std::uint16_t port, bool v6) {
        while (proc_->running() && std::chrono::steady_clock::now() < deadline)
            if (v6 ? wait_port_v6(port, 100ms) : wait_port(port, 100ms))
                return true;
        return false;
    };
    auto fail = [&](const std::string& where) {
        error = name_ + " is not listening on " + where + ": " + proc_->err() + read_file(log_file);
        return false;
    };
    for (auto port : ports)
        if (!up(port, false))
            return fail("port " + std::to_string(port));
    if (v6_port != 0 && !up(v6_port, true))
        return fail("[::1]:" + std::to_string(v6_port));
    // A port picked as free may have been taken meanwhile by another test's
    // process: then the connect above reached that one, and ours, failing to
    // bind, is exiting. Give it a moment to show, so the caller starts it again
    // on other ports instead of running a test against a broker that is gone.
    std::this_thread::sleep_for(100ms);
    if (!proc_->running())
        return fail("its ports (it exited)");
    return true;
}

int child_process::stop(std::chrono::milliseconds grace)
{
    return proc_ ? proc_->stop(grace) : -1;
}

void child_process::kill()
{
    if (proc_) {
        proc_->signal(SIGKILL);
        proc_->wait(5s);
    }
}

void child_process::signal(int sig)
{
    if (proc_)
        proc_->signal(sig);
}

bool child_process::running()
{
    return proc_ && proc_->running();
}

std::string child_process::err() const
{
    return proc_ ? proc_->err() : std::string();
}

} // namespace interop
