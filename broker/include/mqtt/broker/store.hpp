#pragma once
// The broker's durable store: persistent sessions (with their queued and in-flight
// messages) and retained messages. The engine writes what changed as one group per
// commit() and reads everything back once at start-up. Implementations: memory
// (lives as long as the object; for tests and embedding) and SQLite (a file in WAL
// mode). Another backend (e.g. Redis) implements the same few calls.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "mqtt/packet.hpp"
#include "mqtt/protocol_version.hpp"
#include "mqtt/session_state.hpp"

namespace mqtt::broker {

// Stored times are wall-clock (they must mean something after a restart), in
// milliseconds since the Unix epoch.
using wall_clock = std::chrono::system_clock;
using wall_ms = std::int64_t;

inline wall_ms to_wall_ms(wall_clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

struct stored_subscription {
    std::string filter;        // as subscribed, with $share/<name>/ when shared
    subscribe_options options;
    std::uint32_t subscription_id = 0;
    friend bool operator==(const stored_subscription&, const stored_subscription&) = default;
};

// A message waiting in a session's queue (not sent yet). Rows of one session are
// ordered by seq; the engine appends at the end and removes from the front.
struct stored_queued {
    std::uint64_t seq = 0;
    mqtt::publish msg; // Message Expiry Interval: what was left at written_at
    wall_ms written_at = 0;
    friend bool operator==(const stored_queued&, const stored_queued&) = default;
};

struct stored_session {
    std::string client_id;
    protocol_version version = protocol_version::v5;
    std::optional<std::string> username;
    std::uint32_t expiry_interval = 0;    // seconds; 0xFFFFFFFF = never
    std::optional<wall_ms> expires_at;    // while offline
    bool connected = false;               // a connection was up when this was written
    std::optional<mqtt::will> will;
    std::uint32_t will_delay = 0;
    std::optional<wall_ms> will_at;       // a delayed will waiting to be published
    wall_ms saved_at = 0;                 // when this snapshot was taken
    // The in-flight messages (sent, awaiting PUBACK / PUBREC / PUBCOMP) and the QoS 2
    // ids received; small, rewritten with the session. The queue is stored apart.
    session_state state;
    // Filled by load() only; written with append_queued / remove_queued_before.
    std::vector<stored_queued> queue;
    // Written only when subscriptions_changed (the store keeps the previous ones otherwise).
    bool subscriptions_changed = true;
    std::vector<stored_subscription> subscriptions;
    friend bool operator==(const stored_session&, const stored_session&) = default;
};

struct stored_retained {
    std::string topic;
    mqtt::publish msg;
    wall_ms stored_at = 0; // Message Expiry Interval counts from here
    friend bool operator==(const stored_retained&, const stored_retained&) = default;
};

struct store_contents {
    std::vector<stored_session> sessions;
    std::vector<stored_retained> retained;
};

// One change, as a value: a group of them is built on the engine's thread and
// applied on any (the server's store thread).
struct put_session_op {
    stored_session session;
};
struct remove_session_op {
    std::string client_id;
};
struct append_queued_op {
    std::string client_id;
    stored_queued message;
};
struct remove_queued_op {
    std::string client_id;
    std::uint64_t before_seq = 0;
};
struct put_retained_op {
    stored_retained retained;
};
struct remove_retained_op {
    std::string topic;
};
using store_op = std::variant<put_session_op, remove_session_op, append_queued_op, remove_queued_op, put_retained_op,
    remove_retained_op>;

// The changes of one commit group, numbered in the order they must be applied.
struct store_group {
    std::uint64_t id = 0;
    std::vector<store_op> ops;
};

class store;
// Applies the groups, in order, as one transaction.
std::error_code apply_groups(store& st, const std::vector<store_group>& groups);

class store {
public:
    virtual ~store() = default;

    // Everything stored. An error (with a message naming the store) when it cannot
    // be read or does not make sense.
    virtual std::error_code load(store_contents& out, std::string& error) = 0;

    // One group of changes: begin(), any number of put/remove, commit(). Nothing of
    // a group is visible after a crash unless commit() succeeded.
    virtual std::error_code begin() = 0;
    virtual std::error_code put_session(const stored_session& s) = 0;
    // Removes the session with its subscriptions and queue.
    virtual std::error_code remove_session(const std::string& client_id) = 0;
    virtual std::error_code append_queued(const std::string& client_id, const stored_queued& m) = 0;
    // Removes the queued messages of the session with seq < `seq` (all: UINT64_MAX).
    virtual std::error_code remove_queued_before(const std::string& client_id, std::uint64_t seq) = 0;
    virtual std::error_code put_retained(const stored_retained& r) = 0;
    virtual std::error_code remove_retained(const std::string& topic) = 0;
    virtual std::error_code commit() = 0;
    virtual void rollback() = 0;

    // Periodic maintenance (SQLite: WAL checkpoint); also where periodic sync happens.
    virtual std::error_code checkpoint() { return {}; }
    // The last error in words (for logs).
    virtual std::string last_error() const { return {}; }
    // Where it lives, for messages ("memory" or the file name).
    virtual std::string name() const = 0;
};

// Keeps everything in maps; a "crash" of the engine that uses it loses nothing.
class memory_store final : public store {
public:
    std::error_code load(store_contents& out, std::string& error) override;
    std::error_code begin() override;
    std::error_code put_session(const stored_session& s) override;
    std::error_code remove_session(const std::string& client_id) override;
    std::error_code append_queued(const std::string& client_id, const stored_queued& m) override;
    std::error_code remove_queued_before(const std::string& client_id, std::uint64_t seq) override;
    std::error_code put_retained(const stored_retained& r) override;
    std::error_code remove_retained(const std::string& topic) override;
    std::error_code commit() override;
    void rollback() override;
    std::string name() const override { return "memory"; }

    std::size_t commits() const noexcept { return commits_; }

private:
    struct state {
        std::map<std::string, stored_session> sessions;
        std::map<std::string, std::map<std::uint64_t, stored_queued>> queues;
        std::map<std::string, stored_retained> retained;
    };
    state committed_;
    std::vector<std::function<void(state&)>> pending_;
    bool in_group_ = false;
    std::size_t commits_ = 0;
};

enum class store_sync : std::uint8_t {
    always,   // every group commit is on disk before the acknowledgments go out
    periodic, // written at every commit (survives a killed process), synced at checkpoints
};

struct sqlite_store_options {
    store_sync sync = store_sync::always;
};

// Opens (creating it and its directory when missing) the SQLite store at `path`.
// nullptr and a message naming the file when it cannot be opened or is corrupt.
std::unique_ptr<store> open_sqlite_store(const std::string& path, sqlite_store_options options, std::string& error);

// Renames a corrupt store (and its -wal / -shm files) to <path>.corrupt-<timestamp>.
// Returns the new name, or empty and a message.
std::string move_store_aside(const std::string& path, std::string& error);

} // namespace mqtt::broker
