#pragma once
// Shared pieces of the fault scenarios: run size (CI or soak), seed, the proxy on
// its own thread, and the table of figures printed at the end of the program.
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "fault_proxy.hpp"
#include "ledger.hpp"

namespace fault {

// MQTT_FAULT_SOAK=1: the long run (many more messages, cuts and kills).
inline bool soak()
{
    const char* v = std::getenv("MQTT_FAULT_SOAK");
    return v && *v && std::string(v) != "0";
}

// MQTT_FAULT_SEED=N replays a run's fault decisions; the default is fixed.
inline std::uint64_t seed()
{
    const char* v = std::getenv("MQTT_FAULT_SEED");
    return v && *v ? std::strtoull(v, nullptr, 10) : 20261127;
}

// The proxy with its own io_context thread (the network, apart from the clients).
class proxy_thread {
public:
    explicit proxy_thread(mqtt::fault::proxy_options o)
        : work_(boost::asio::make_work_guard(ioc_)), proxy_(std::make_unique<mqtt::fault::proxy>(ioc_.get_executor(), std::move(o)))
    {
        error_ = proxy_->start();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~proxy_thread()
    {
        proxy_->stop();
        work_.reset();
        thread_.join();
    }
    proxy_thread(const proxy_thread&) = delete;
    proxy_thread& operator=(const proxy_thread&) = delete;

    std::error_code error() const { return error_; }
    mqtt::fault::proxy& operator*() { return *proxy_; }
    mqtt::fault::proxy* operator->() { return proxy_.get(); }

private:
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::unique_ptr<mqtt::fault::proxy> proxy_;
    std::error_code error_;
    std::thread thread_;
};

// Rows collected by every scenario; printed as each test ends and all together at exit.
inline std::vector<table_row>& all_rows()
{
    static std::vector<table_row> rows;
    return rows;
}

inline void report(const std::vector<table_row>& rows)
{
    print_table(rows);
    auto& all = all_rows();
    all.insert(all.end(), rows.begin(), rows.end());
}

} // namespace fault
