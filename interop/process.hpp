#pragma once
// Child processes for interop tests: spawn with posix_spawn, capture output in
// files, wait with a deadline, SIGTERM then SIGKILL, always reap. Plus loopback
// port helpers and self-removing temporary directories.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace interop {

using namespace std::chrono_literals;

class temp_dir {
public:
    explicit temp_dir(std::string_view prefix = "mqtt-interop");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::string file(std::string_view name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

class process {
public:
    // Starts argv[0] (a path) with its arguments. stdin reads `input` (empty: /dev/null);
    // stdout and stderr go to files read by out() / err().
    explicit process(std::vector<std::string> argv, std::string input = {});
    ~process(); // stops the process if it still runs
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    bool started() const noexcept { return pid_ > 0; }
    const std::string& start_error() const noexcept { return error_; }
    pid_t pid() const noexcept { return pid_; }

    // The exit code (128 + signal when killed), or nullopt if still running at the deadline.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    bool running();
    void signal(int sig);
    // SIGTERM, then SIGKILL after `grace`; returns the exit code.
    int stop(std::chrono::milliseconds grace = 3s);

    std::string out() const;
    std::string err() const;
    // Waits until stdout (or stderr) contains `needle`; false at the deadline or if the process exits first.
    bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout, bool from_stderr = false);

private:
    temp_dir dir_;
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::string error_;
    std::string command_;
};

struct command_result {
    int code = -1;
    bool timed_out = false;
    std::string out, err;
};

// Runs a command to completion (killed at the deadline).
command_result run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s, std::string input = {});

// A port on 127.0.0.1 that was free a moment ago (never 1883).
std::uint16_t free_port();
// Waits until 127.0.0.1:port accepts a TCP connection.
bool wait_port(std::uint16_t port, std::chrono::milliseconds timeout);

std::string read_file(const std::string& path);
void write_file(const std::string& path, std::string_view content);

} // namespace interop
