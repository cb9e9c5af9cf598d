// The store thread (see store_worker.hpp).
#include "store_worker.hpp"

#include <chrono>

namespace mqtt::broker {

store_worker::store_worker(store& st, callbacks cb) : store_(st), cb_(std::move(cb))
{
    thread_ = std::thread([this] { run(); });
}

store_worker::~store_worker()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void store_worker::submit(store_group g)
{
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(g));
    }
    wake_.notify_one();
}

void store_worker::request_checkpoint()
{
    {
        std::lock_guard lock(mutex_);
        checkpoint_ = true;
    }
    wake_.notify_one();
}

void store_worker::run()
{
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || checkpoint_ || !queue_.empty(); });
        if (!queue_.empty()) {
            std::vector<store_group> groups;
            groups.swap(queue_);
            lock.unlock();
            // In order, all at once; a failure is retried (the output stays held)
            // until it works or the broker stops.
            for (;;) {
                auto ec = apply_groups(store_, groups);
                if (!ec) {
                    cb_.committed(groups.back().id);
                    break;
                }
                cb_.failed(store_.last_error().empty() ? ec.message() : store_.last_error());
                lock.lock();
                bool stop = wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
                lock.unlock();
                if (stop)
                    break;
            }
            lock.lock();
            continue;
        }
        if (checkpoint_ || stopping_) {
            checkpoint_ = false;
            bool stop = stopping_;
            lock.unlock();
            store_.checkpoint();
            lock.lock();
            if (stop)
                return;
        }
    }
}

} // namespace mqtt::broker
