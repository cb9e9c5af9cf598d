#pragma once
// The store's own thread: applies commit groups in order, several at once when
// they queue up (one transaction, one fsync), so that the I/O thread never waits
// for the disk. Completion and errors are reported through callbacks the caller
// runs where it wants (the server posts them to its io_context).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/broker/store.hpp"

namespace mqtt::broker {

class store_worker {
public:
    struct callbacks {
        std::function<void(std::uint64_t last_group)> committed; // called on the worker thread
        std::function<void(std::string error)> failed;          // ditto; the group is retried
    };

    store_worker(store& st, callbacks cb);
    ~store_worker(); // applies what is queued, checkpoints, joins
    store_worker(const store_worker&) = delete;
    store_worker& operator=(const store_worker&) = delete;

    void submit(store_group g);
    void request_checkpoint();

private:
    void run();

    store& store_;
    callbacks cb_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<store_group> queue_;
    bool checkpoint_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace mqtt::broker
