// The SQLite store: one file in WAL mode, one transaction per group commit.
//
// Tables: sessions (one row per persistent session; its in-flight messages and
// QoS 2 received ids are the session_state blob), subscriptions (rows per session,
// rewritten only when they change), queue (messages waiting to be sent, one row
// each, appended and removed from the front), retained (one row per topic).
// Messages (retained, wills) are stored in the session_state format too, so topic,
// payload, flags and 5.0 properties round-trip through the one packet codec.
#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "mqtt/broker/store.hpp"

namespace mqtt::broker {

namespace {

constexpr int schema_version = 1;

const char* const schema = R"sql(
CREATE TABLE IF NOT EXISTS sessions(
  client_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  username TEXT,
  expiry_interval INTEGER NOT NULL,
  expires_at INTEGER,
  connected INTEGER NOT NULL,
  will BLOB,
  will_delay INTEGER NOT NULL,
  will_at INTEGER,
  saved_at INTEGER NOT NULL,
  state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions(
  client_id TEXT NOT NULL,
  filter TEXT NOT NULL,
  options INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, filter)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue(
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  message BLOB NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY(client_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retained(
  topic TEXT PRIMARY KEY,
  message BLOB NOT NULL,
  stored_at INTEGER NOT NULL);
)sql";

std::error_code store_failure() { return std::make_error_code(std::errc::io_error); }

// Sequence numbers as SQLite integers (signed 64-bit); the largest means "all".
std::int64_t to_db(std::uint64_t seq)
{
    return seq > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(seq);
}

// One message in the session_state format (the same codec as the queues).
std::string encode_message(const mqtt::publish& msg)
{
    session_state s;
    s.outgoing.push_back({msg, outgoing_stage::queued});
    s.outgoing.back().msg.packet_id = 0;
    return serialize(s);
}

std::optional<mqtt::publish> decode_message(std::string_view bytes)
{
    auto s = deserialize_session_state(bytes);
    if (!s || s->outgoing.size() != 1)
        return std::nullopt;
    return std::move(s->outgoing.front().msg);
}

int pack_options(const subscribe_options& o)
{
    return static_cast<int>(o.qos) | (o.no_local ? 4 : 0) | (o.retain_as_published ? 8 : 0)
        | (static_cast<int>(o.retain_handling) << 4);
}

std::optional<subscribe_options> unpack_options(std::int64_t v)
{
    if (v < 0 || v > 0x2F || (v & 3) == 3 || ((v >> 4) & 3) == 3)
        return std::nullopt;
    subscribe_options o;
    o.qos = static_cast<mqtt::qos>(v & 3);
    o.no_local = (v & 4) != 0;
    o.retain_as_published = (v & 8) != 0;
    o.retain_handling = static_cast<retain_handling>((v >> 4) & 3);
    return o;
}

// A prepared statement, reset after each use.
class statement {
public:
    statement() = default;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement() { sqlite3_finalize(stmt_); }

    bool prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) == SQLITE_OK; }
    sqlite3_stmt* get() const noexcept { return stmt_; }

    void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, std::string_view v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void bind_blob(int i, std::string_view v)
    {
        sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
    template <class T>
    void bind_opt(int i, const std::optional<T>& v)
    {
        if (v)
            bind(i, *v);
        else
            bind_null(i);
    }

    // Runs a statement that returns no rows.
    bool run()
    {
        int rc = sqlite3_step(stmt_);
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return rc == SQLITE_DONE;
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

std::string column_text(sqlite3_stmt* s, int i)
{
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::string_view column_blob(sqlite3_stmt* s, int i)
{
    auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string_view();
}

std::optional<std::int64_t> column_opt(sqlite3_stmt* s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return std::nullopt;
    return sqlite3_column_int64(s, i);
}

class sqlite_store final : public store {
public:
    sqlite_store(std::string path, sqlite_store_options o) : path_(std::move(path)), opts_(o) {}
    ~sqlite_store() override
    {
        if (in_group_)
            rollback();
        sqlite3_close_v2(db_);
    }

    bool open(std::string& error)
    {
        std::error_code fs_ec;
        auto dir = std::filesystem::path(path_).parent_path();
        if (!dir.empty() && !std::filesystem::exists(dir, fs_ec)) {
            std::filesystem::create_directories(dir, fs_ec);
            if (fs_ec) {
                error = "cannot create the persistence directory '" + dir.string() + "': " + fs_ec.message();
                return false;
            }
        }
        if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr)
            != SQLITE_OK)
            return fail("cannot open", error);
        sqlite3_busy_timeout(db_, 2000);
        // Reading the header: a file that is not a database fails here.
        std::string mode;
        if (!query_text("PRAGMA journal_mode=WAL", mode) || mode != "wal")
            return fail("cannot use", error);
        if (!exec(opts_.sync == store_sync::always ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"))
            return fail("cannot use", error);
        std::string check;
        if (!query_text("PRAGMA quick_check", check) || check != "ok")
            return fail("integrity check failed for", error, check);
        std::string version;
        if (!query_text("PRAGMA user_version", version))
            return fail("cannot read", error);
        if (std::stoi(version) > schema_version) {
            error = "persistence store '" + path_ + "' was written by a newer version (schema " + version + ")";
            return false;
        }
        if (!exec(schema) || !exec(("PRAGMA user_version=" + std::to_string(schema_version)).c_str()))
            return fail("cannot create the tables of", error);
        bool ok = put_session_.prepare(db_,
                      "INSERT OR REPLACE INTO sessions(client_id, version, username, expiry_interval, expires_at, connected,"
                      " will, will_delay, will_at, saved_at, state) VALUES(?,?,?,?,?,?,?,?,?,?,?)")
            && remove_session_.prepare(db_, "DELETE FROM sessions WHERE client_id = ?")
            && remove_subs_.prepare(db_, "DELETE FROM subscriptions WHERE client_id = ?")
            && put_sub_.prepare(db_,
                "INSERT OR REPLACE INTO subscriptions(client_id, filter, options, subscription_id) VALUES(?,?,?,?)")
            && append_queued_.prepare(db_, "INSERT OR REPLACE INTO queue(client_id, seq, message, written_at) VALUES(?,?,?,?)")
            && remove_queued_.prepare(db_, "DELETE FROM queue WHERE client_id = ? AND seq < ?")
            && put_retained_.prepare(db_, "INSERT OR REPLACE INTO retained(topic, message, stored_at) VALUES(?,?,?)")
            && remove_retained_.prepare(db_, "DELETE FROM retained WHERE topic = ?")
            && begin_.prepare(db_, "BEGIN")
            && commit_.prepare(db_, "COMMIT")
            && rollback_.prepare(db_, "ROLLBACK");
        if (!ok)
            return fail("cannot prepare statements for", error);
        return true;
    }

    std::error_code load(store_contents& out, std::string& error) override
    {
        out = {};
        std::map<std::string, std::size_t> index;
        auto ec = each_row("SELECT client_id, version, username, expiry_interval, expires_at, connected, will,"
                           " will_delay, will_at, saved_at, state FROM sessions",
            error, [&](sqlite3_stmt* s) -> std::error_code {
                stored_session ss;
                ss.client_id = column_text(s, 0);
                auto v = sqlite3_column_int64(s, 1);
                if (v != 4 && v != 5)
                    return bad_row("session '" + ss.client_id + "' has protocol version " + std::to_string(v), error);
                ss.version = static_cast<protocol_version>(v);
                if (sqlite3_column_type(s, 2) != SQLITE_NULL)
                    ss.username = column_text(s, 2);
                ss.expiry_interval = static_cast<std::uint32_t>(sqlite3_column_int64(s, 3));
                ss.expires_at = column_opt(s, 4);
                ss.connected = sqlite3_column_int64(s, 5) != 0;
                if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
                    auto w = decode_message(column_blob(s, 6));
                    if (!w)
                        return bad_row("the will of session '" + ss.client_id + "' does not decode", error);
                    ss.will = mqtt::will{w->topic, w->payload, w->qos, w->retain, w->props};
                }
                ss.will_delay = static_cast<std::uint32_t>(sqlite3_column_int64(s, 7));
                ss.will_at = column_opt(s, 8);
                ss.saved_at = sqlite3_column_int64(s, 9);
                auto st = deserialize_session_state(column_blob(s, 10));
                if (!st)
                    return bad_row("the messages of session '" + ss.client_id + "' do not decode", error);
                ss.state = std::move(*st);
                index[ss.client_id] = out.sessions.size();
                out.sessions.push_back(std::move(ss));
                return {};
            });
        if (ec)
            return ec;
        ec = each_row("SELECT client_id, filter, options, subscription_id FROM subscriptions ORDER BY client_id", error,
            [&](sqlite3_stmt* s) -> std::error_code {
                auto it = index.find(column_text(s, 0));
                if (it == index.end())
                    return {}; // left behind by nothing we write; harmless
                auto o = unpack_options(sqlite3_column_int64(s, 2));
                if (!o)
                    return bad_row("a subscription of '" + it->first + "' has invalid options", error);
                out.sessions[it->second].subscriptions.push_back(
                    {column_text(s, 1), *o, static_cast<std::uint32_t>(sqlite3_column_int64(s, 3))});
                return {};
            });
        if (ec)
            return ec;
        ec = each_row("SELECT client_id, seq, message, written_at FROM queue ORDER BY client_id, seq", error,
            [&](sqlite3_stmt* s) -> std::error_code {
                auto it = index.find(column_text(s, 0));
                if (it == index.end())
                    return {};
                stored_queued m;
                m.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
                auto msg = decode_message(column_blob(s, 2));
                if (!msg)
                    return bad_row("a queued message of '" + it->first + "' does not decode", error);
                m.msg = std::move(*msg);
                m.written_at = sqlite3_column_int64(s, 3);
                out.sessions[it->second].queue.push_back(std::move(m));
                return {};
            });
        if (ec)
            return ec;
        return each_row("SELECT topic, message, stored_at FROM retained", error, [&](sqlite3_stmt* s) -> std::error_code {
            stored_retained r;
            r.topic = column_text(s, 0);
            auto m = decode_message(column_blob(s, 1));
            if (!m)
                return bad_row("the retained message of '" + r.topic + "' does not decode", error);
            r.msg = std::move(*m);
            r.stored_at = sqlite3_column_int64(s, 2);
            out.retained.push_back(std::move(r));
            return {};
        });
    }

    std::error_code begin() override
    {
        if (!begin_.run())
            return failed();
        in_group_ = true;
        return {};
    }

    std::error_code put_session(const stored_session& s) override
    {
        auto& q = put_session_;
        q.bind(1, s.client_id);
        q.bind(2, static_cast<std::int64_t>(s.version));
        q.bind_opt(3, s.username);
        q.bind(4, static_cast<std::int64_t>(s.expiry_interval));
        q.bind_opt(5, s.expires_at);
        q.bind(6, s.connected ? 1 : 0);
        if (s.will) {
            mqtt::publish w;
            w.topic = s.will->topic;
            w.payload = s.will->payload;
            w.qos = s.will->qos;
            w.retain = s.will->retain;
            w.props = s.will->props;
            q.bind_blob(7, encode_message(w));
        } else {
            q.bind_null(7);
        }
        q.bind(8, static_cast<std::int64_t>(s.will_delay));
        q.bind_opt(9, s.will_at);
        q.bind(10, s.saved_at);
        q.bind_blob(11, serialize(s.state));
        if (!q.run())
            return failed();
        if (s.subscriptions_changed) {
            remove_subs_.bind(1, s.client_id);
            if (!remove_subs_.run())
                return failed();
            for (auto& sub : s.subscriptions) {
                put_sub_.bind(1, s.client_id);
                put_sub_.bind(2, sub.filter);
                put_sub_.bind(3, pack_options(sub.options));
                put_sub_.bind(4, static_cast<std::int64_t>(sub.subscription_id));
                if (!put_sub_.run())
                    return failed();
            }
        }
        return {};
    }

    std::error_code remove_session(const std::string& client_id) override
    {
        remove_session_.bind(1, client_id);
        remove_subs_.bind(1, client_id);
        if (!remove_session_.run() || !remove_subs_.run())
            return failed();
        return remove_queued_before(client_id, UINT64_MAX);
    }

    std::error_code append_queued(const std::string& client_id, const stored_queued& m) override
    {
        append_queued_.bind(1, client_id);
        append_queued_.bind(2, to_db(m.seq));
        append_queued_.bind_blob(3, encode_message(m.msg));
        append_queued_.bind(4, m.written_at);
        return append_queued_.run() ? std::error_code() : failed();
    }

    std::error_code remove_queued_before(const std::string& client_id, std::uint64_t seq) override
    {
        remove_queued_.bind(1, client_id);
        remove_queued_.bind(2, to_db(seq));
        return remove_queued_.run() ? std::error_code() : failed();
    }

    std::error_code put_retained(const stored_retained& r) override
    {
        put_retained_.bind(1, r.topic);
        put_retained_.bind_blob(2, encode_message(r.msg));
        put_retained_.bind(3, r.stored_at);
        return put_retained_.run() ? std::error_code() : failed();
    }

    std::error_code remove_retained(const std::string& topic) override
    {
        remove_retained_.bind(1, topic);
        return remove_retained_.run() ? std::error_code() : failed();
    }

    std::error_code commit() override
    {
        if (!commit_.run()) {
            auto ec = failed();
            rollback();
            return ec;
        }
        in_group_ = false;
        return {};
    }

    void rollback() override
    {
        if (sqlite3_get_autocommit(db_) == 0)
            rollback_.run();
        in_group_ = false;
    }

    std::error_code checkpoint() override
    {
        if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) != SQLITE_OK)
            return failed();
        return {};
    }

    std::string last_error() const override { return last_error_; }
    std::string name() const override { return path_; }

private:
    bool exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

    // Runs a query of load() and hands each row to `row`, which returns an error
    // to stop (a corrupt row); a failed read is a load_failure.
    template <class Row>
    std::error_code each_row(const char* sql, std::string& error, Row&& row)
    {
        statement q;
        if (!q.prepare(db_, sql))
            return load_failure("cannot read", error);
        int rc;
        while ((rc = sqlite3_step(q.get())) == SQLITE_ROW)
            if (auto ec = row(q.get()))
                return ec;
        if (rc != SQLITE_DONE)
            return load_failure("cannot read", error);
        return {};
    }

    // The first column of the first row, as text.
    bool query_text(const char* sql, std::string& out)
    {
        statement q;
        if (!q.prepare(db_, sql))
            return false;
        int rc = sqlite3_step(q.get());
        if (rc != SQLITE_ROW)
            return false;
        out = column_text(q.get(), 0);
        return true;
    }

    bool fail(const char* what, std::string& error, const std::string& detail = {})
    {
        error = std::string(what) + " persistence store '" + path_ + "': "
            + (detail.empty() ? std::string(db_ ? sqlite3_errmsg(db_) : "out of memory") : detail);
        return false;
    }

    std::error_code load_failure(const char* what, std::string& error)
    {
        fail(what, error);
        return store_failure();
    }

    std::error_code bad_row(const std::string& what, std::string& error)
    {
        error = "persistence store '" + path_ + "' is corrupt: " + what;
        return store_failure();
    }

    std::error_code failed()
    {
        last_error_ = path_ + ": " + sqlite3_errmsg(db_);
        return store_failure();
    }

    std::string path_;
    sqlite_store_options opts_;
    sqlite3* db_ = nullptr;
    statement put_session_, remove_session_, remove_subs_, put_sub_, put_retained_, remove_retained_;
    statement append_queued_, remove_queued_;
    statement begin_, commit_, rollback_;
    bool in_group_ = false;
    std::string last_error_;
};

} // namespace

std::unique_ptr<store> open_sqlite_store(const std::string& path, sqlite_store_options options, std::string& error)
{
    auto s = std::make_unique<sqlite_store>(path, options);
    if (!s->open(error))
        return nullptr;
    return s;
}

std::string move_store_aside(const std::string& path, std::string& error)
{
    auto t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    std::string target = path + ".corrupt-" + stamp;
    std::error_code ec;
    std::filesystem::rename(path, target, ec);
    if (ec) {
        error = "cannot move '" + path + "' to '" + target + "': " + ec.message();
        return {};
    }
    for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ignore;
        if (std::filesystem::exists(path + suffix, ignore))
            std::filesystem::rename(path + suffix, target + suffix, ignore);
    }
    return target;
}

} // namespace mqtt::broker
