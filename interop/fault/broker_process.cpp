#include "broker_process.hpp"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

namespace fault {

using namespace std::chrono_literals;

std::size_t publish_after_pubrel(const std::string& log)
{
    // Lines like "Sending PUBREL to C (m7)", "Received PUBCOMP from C (Mid: 7, RC:0)",
    // "Sending PUBLISH to C (d1, q2, r0, m7, 'topic', ...".
    std::set<std::pair<std::string, long>> released;
    std::size_t violations = 0;
    std::size_t start = 0;
    auto client_after = [](const std::string& l, std::size_t at) { return l.substr(at, l.find(' ', at) - at); };
    auto number_after = [](const std::string& l, const char* marker) {
        auto at = l.find(marker);
        return at == std::string::npos ? -1L : std::atol(l.c_str() + at + std::strlen(marker));
    };
    while (start < log.size()) {
        auto end = log.find('\n', start);
        if (end == std::string::npos)
            end = log.size();
        const std::string line = log.substr(start, end - start);
        start = end + 1;
        if (auto at = line.find("Sending PUBREL to "); at != std::string::npos) {
            released.insert({client_after(line, at + 18), number_after(line, "(m")});
        } else if (auto c = line.find("Received PUBCOMP from "); c != std::string::npos) {
            released.erase({client_after(line, c + 22), number_after(line, "(Mid: ")});
        } else if (auto p = line.find("Sending PUBLISH to "); p != std::string::npos && line.find(", q2, ") != std::string::npos) {
            // Counted once per PUBREL: the receiver takes the first such copy as new and
            // the ones after it as retransmissions of that copy.
            violations += released.erase({client_after(line, p + 19), number_after(line, ", m")});
        }
    }
    return violations;
}

std::string broker_name(broker_kind k)
{
    return k == broker_kind::ours ? "mqtt-broker" : "mosquitto";
}

broker_process::broker_process(broker_kind kind, bool persistence, bool full_log)
    : kind_(kind), persistence_(persistence), full_log_(full_log), dir_("mqtt-fault-broker")
{
    // A port found free may be taken before the broker binds it: then try another.
    for (int attempt = 0; attempt < 5; ++attempt) {
        error_.clear();
        port_ = interop::free_port();
        if (port_ == 0) {
            error_ = "no free port";
            return;
        }
        write_config();
        if (start())
            return;
    }
}

broker_process::~broker_process()
{
    if (proc_)
        proc_->stop(3s);
    // MQTT_FAULT_BROKER_LOG=DIR keeps each broker's log there (Mosquitto: log_type all).
    if (const char* keep = std::getenv("MQTT_FAULT_BROKER_LOG"))
        interop::write_file(std::string(keep) + "/" + broker_name(kind_) + "-" + std::to_string(port_) + ".log", log());
}

void broker_process::write_config()
{
    std::ostringstream conf;
    const auto store = dir_.path().string() + "/";
    if (kind_ == broker_kind::ours) {
        conf << "listener " << port_ << " 127.0.0.1\n"
             << "allow_anonymous true\n"
             << "max_queued_messages 0\n"
             << "sys_interval 0\n"
             // Two I/O threads whatever the machine: the fault scenarios also
             // cover the hand-off between threads (the automatic count is one
             // on a two-core machine).
             << "threads 2\n";
        if (persistence_)
            conf << "persistence true\npersistence_location " << store << "\n";
    } else {
        const auto* pw = ::getpwuid(::getuid());
        conf << "user " << (pw ? pw->pw_name : "root") << "\n"
             << "log_dest file " << dir_.file("mosquitto.log") << "\n"
             << (full_log_ || std::getenv("MQTT_FAULT_BROKER_LOG") ? "log_type all\n" : "log_type error\nlog_type warning\nlog_type notice\n")
             << "max_queued_messages 0\n"
             // With an in-flight limit Mosquitto 2.0.11 acknowledges but never delivers
             // QoS 2 messages a 3.1.1 client sends beyond it (see docs/client.md).
             << "max_inflight_messages 0\n"
             << "listener " << port_ << " 127.0.0.1\n"
             << "allow_anonymous true\n";
        // Mosquitto writes its store only on shutdown or every autosave_interval
        // seconds: the most often it can, so that a SIGKILL loses the least.
        if (persistence_)
            conf << "persistence true\npersistence_location " << store << "\nautosave_interval 1\n";
    }
    interop::write_file(dir_.file("broker.conf"), conf.str());
}

bool broker_process::start()
{
    if (proc_ && proc_->running())
        return true;
    if (proc_)
        logs_ += proc_->err() + proc_->out();
    const char* path = kind_ == broker_kind::ours ? MQTT_BROKER_PATH : MOSQUITTO_PATH;
    proc_ = std::make_unique<interop::process>(std::vector<std::string>{path, "-c", dir_.file("broker.conf")});
    if (!proc_->started()) {
        error_ = proc_->start_error();
        return false;
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (proc_->running() && std::chrono::steady_clock::now() < deadline)
        if (interop::wait_port(port_, 100ms))
            return true;
    error_ = broker_name(kind_) + " is not listening on port " + std::to_string(port_) + ": " + proc_->err() + log();
    return false;
}

void broker_process::kill()
{
    if (proc_) {
        proc_->signal(SIGKILL);
        proc_->wait(5s);
    }
}

void broker_process::stop()
{
    if (proc_)
        proc_->stop(5s);
}

bool broker_process::running()
{
    return proc_ && proc_->running();
}

std::string broker_process::log() const
{
    auto text = logs_;
    if (proc_)
        text += proc_->err() + proc_->out();
    if (kind_ == broker_kind::mosquitto)
        text += interop::read_file(dir_.file("mosquitto.log"));
    return text;
}

} // namespace fault
