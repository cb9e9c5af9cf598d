#pragma once
// A broker run as a child process for one test: what interop::mosquitto and
// interop::our_broker share. Free loopback ports for its listeners, start and
// wait until every listener accepts, start again on other ports when one was
// taken meanwhile, stop (SIGTERM, SIGKILL if it must be) by the destructor.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"

namespace interop {

class child_process {
public:
    // name: the program, for error messages.
    explicit child_process(std::string name) : name_(std::move(name)) {}
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Up to 5 tries of configure() (picks ports and writes the configuration; false:
    // give up, `error` says why), then start(). A port found free may be taken by
    // someone else before the child binds it: the next try picks other ports.
    void start_on_free_ports(std::string& error, const std::function<bool()>& configure,
        const std::function<bool()>& start);

    // Starts argv unless it still runs, then waits up to 10 s until each of `ports`
    // accepts on 127.0.0.1 (and `v6_port`, when not 0, on [::1]). Otherwise false,
    // with `error` saying which port, and the child's stderr and the log file.
    bool start(std::vector<std::string> argv, const std::vector<std::uint16_t>& ports, std::uint16_t v6_port,
        const std::string& log_file, std::string& error);

    // SIGTERM, SIGKILL after `grace`; the exit code (-1: never started).
    int stop(std::chrono::milliseconds grace);
    // SIGKILL and reap.
    void kill();
    void signal(int sig);
    bool running();
    // What the child wrote to stderr.
    std::string err() const;

private:
    std::string name_;
    std::unique_ptr<process> proc_;
};

// Gives each of `ports` a port of 127.0.0.1 that is free now; false ("no free
// port" in `error`) when there is none.
bool pick_free_ports(const std::vector<std::uint16_t*>& ports, std::string& error);

// True when [::1]:port accepts a TCP connection within `timeout`.
bool wait_port_v6(std::uint16_t port, std::chrono::milliseconds timeout);
// True when the machine has an IPv6 loopback to bind to.
bool have_ipv6_loopback();

} // namespace interop
