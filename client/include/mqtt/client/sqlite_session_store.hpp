#pragma once
// A durable session_store in one SQLite file (WAL journal): the client's
// unacknowledged QoS 1/2 publishes and PUBRELs, its offline queue (QoS 1/2) and
// the QoS 2 packet ids it has received, so that a client restarted after a crash
// (SIGKILL, power loss with sync_mode::full) with the same client id and file
// resumes its session.
//
// Each save() is one transaction. By default it writes only what changed since the
// previous save (a row per message, written once; its stage and packet id are
// updated in place; a row deleted when the message completes), so its cost follows
// the number of changes, not the size of the queue.
//
// Errors are values: open(), load() and save() return an error code (category
// sqlite_category(): SQLite result codes) and last_error() says which file and why.
// A file that is not a store, has a newer format or holds rows that do not decode
// is reported, never "repaired": after such an error save() refuses to write.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "mqtt/client/session_store.hpp"

namespace mqtt {

// SQLite result codes (SQLITE_CANTOPEN, SQLITE_NOTADB, SQLITE_CORRUPT, ...) as error codes.
const std::error_category& sqlite_category() noexcept;

struct sqlite_store_options {
    enum class sync_mode {
        normal, // synchronous=NORMAL: every save survives a crash of the process
        full,   // synchronous=FULL: every save also survives power loss (an fsync each)
    };
    sync_mode sync = sync_mode::normal;
    // Write the whole state as one blob on every save instead of row by row (the
    // simpler scheme; kept for comparison and for tiny sessions).
    bool snapshot = false;
};

class sqlite_session_store final : public session_store {
public:
    // Does not touch the file: open() or the first load() does.
    explicit sqlite_session_store(std::string path, sqlite_store_options options = {});
    ~sqlite_session_store() override;
    sqlite_session_store(const sqlite_session_store&) = delete;
    sqlite_session_store& operator=(const sqlite_session_store&) = delete;

    // Opens the file (creating it if missing), checks it is a store this version
    // can read and reads every row. Calling it again after success does nothing.
    std::error_code open();
    // The stored state (opens first if needed).
    result<session_state> load() override;
    // Writes the changes from the last saved (or loaded) state to `state`.
    std::error_code save(const session_state& state) override;

    // "<file>: <reason>" for the last error; empty when none.
    std::string last_error() const;
    const std::string& path() const noexcept { return path_; }
    // Transactions committed by save() (for tests and measurements).
    std::size_t save_count() const;

private:
    struct row {
        std::int64_t seq;
        outgoing_message m;
    };
    struct database;

    std::error_code open_locked();
    std::error_code fail(int rc, const std::string& what);
    std::error_code read_all();
    std::error_code save_rows(const session_state& state);
    std::error_code save_snapshot(const session_state& state);

    const std::string path_;
    const sqlite_store_options options_;
    mutable std::mutex mutex_;
    std::unique_ptr<database> db_;
    bool failed_ = false; // the file could not be read: never written over
    std::error_code error_;
    std::string error_message_;
    // What the file holds now (the rows in order, the QoS 2 ids), to write only changes.
    std::vector<row> rows_;
    std::set<std::uint16_t> qos2_;
    std::optional<session_state> snapshot_; // the snapshot row, when that is what the file holds
    std::vector<row> pending_rows_;         // rows_ once the transaction commits
    std::set<std::uint16_t> pending_qos2_;
    std::int64_t next_seq_ = 1;
    std::size_t saves_ = 0;
};

} // namespace mqtt
