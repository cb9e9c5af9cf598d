// The SQLite session store. Schema (format 1, PRAGMA user_version; PRAGMA
// application_id marks the file as ours):
//   outgoing(seq, stage, packet_id, dup, message): one row per QoS 1/2 message in
//       submission order; `message` is the MQTT 5.0 PUBLISH packet (placeholder
//       packet id 1, DUP 0), written once; stage, id and DUP change in place.
//   qos2_received(packet_id): PUBREC sent, PUBREL not yet received.
//   snapshot(id = 1, state): the whole state (mqtt::serialize) in snapshot mode.
#include "mqtt/client/sqlite_session_store.hpp"

#include <sqlite3.h>

#include <cstring>
#include <optional>
#include <utility>

#include "mqtt/codec.hpp"

namespace mqtt {

namespace {

constexpr int application_id = 0x4D515353; // "MQSS"
constexpr int format_version = 1;

class sqlite_error_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "mqtt.sqlite"; }
    std::string message(int rc) const override { return sqlite3_errstr(rc); }
};

std::error_code make_error(int rc) { return {rc & 0xff, sqlite_category()}; }

// A prepared statement, finalized with its owner.
class statement {
public:
    statement() = default;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement() { sqlite3_finalize(stmt_); }

    int prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr); }
    sqlite3_stmt* get() const noexcept { return stmt_; }

    // Binds integers (and at most one blob, last) and runs to completion.
    template <class... Ints>
    int run(Ints... values)
    {
        int i = 0;
        (sqlite3_bind_int64(stmt_, ++i, static_cast<sqlite3_int64>(values)), ...);
        return finish();
    }
    template <class... Ints>
    int run_with_blob(std::string_view blob, Ints... values)
    {
        int i = 0;
        (sqlite3_bind_int64(stmt_, ++i, static_cast<sqlite3_int64>(values)), ...);
        sqlite3_bind_blob64(stmt_, ++i, blob.data(), blob.size(), SQLITE_STATIC);
        return finish();
    }

private:
    int finish()
    {
        int rc = sqlite3_step(stmt_);
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_stmt* stmt_ = nullptr;
};

bool same_bytes(const buffer& a, const buffer& b) noexcept
{
    return (a.data() == b.data() && a.size() == b.size()) || a.view() == b.view();
}

// Whether `now` is the message stored as `stored`. Buffers are shared between the
// session and the copies we keep, so this is mostly a pointer comparison. A
// message whose PUBREC came has lost its payload (it is never sent again).
bool same_message(const publish& stored, const outgoing_message& now)
{
    if (stored.qos != now.msg.qos || stored.retain != now.msg.retain || !same_bytes(stored.topic, now.msg.topic))
        return false;
    if (!same_bytes(stored.payload, now.msg.payload) && !(now.stage == outgoing_stage::awaiting_comp && now.msg.payload.empty()))
        return false;
    return stored.props == now.msg.props;
}

bool same_columns(const outgoing_message& a, const outgoing_message& b) noexcept
{
    return a.stage == b.stage && a.msg.packet_id == b.msg.packet_id && a.msg.dup == b.msg.dup;
}

} // namespace

const std::error_category& sqlite_category() noexcept
{
    static const sqlite_error_category category;
    return category;
}

// Closes the connection after every statement (declared after it) is finalized.
struct connection_handle {
    sqlite3* db = nullptr;
    connection_handle() = default;
    connection_handle(const connection_handle&) = delete;
    connection_handle& operator=(const connection_handle&) = delete;
    ~connection_handle() { sqlite3_close_v2(db); }
};

struct sqlite_session_store::database {
    connection_handle handle;
    sqlite3*& db = handle.db;
    statement begin, commit, rollback;
    statement insert_row, update_row, delete_row, delete_rows;
    statement insert_id, delete_id, delete_ids;
    statement put_snapshot, delete_snapshot;

    int exec(const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }
};

sqlite_session_store::sqlite_session_store(std::string path, sqlite_store_options options)
    : path_(std::move(path)), options_(options)
{
}

sqlite_session_store::~sqlite_session_store() = default;

std::error_code sqlite_session_store::fail(int rc, const std::string& what)
{
    error_ = make_error(rc);
    error_message_ = path_ + ": " + what;
    if (db_ && db_->db) {
        const char* detail = sqlite3_errmsg(db_->db);
        if (detail && std::strcmp(detail, "not an error") != 0 && what.find(detail) == std::string::npos)
            error_message_ += std::string(": ") + detail;
        if (int e = sqlite3_system_errno(db_->db); e != 0 && (rc & 0xff) == SQLITE_CANTOPEN)
            error_message_ += std::string(" (") + std::strerror(e) + ")";
    }
    return error_;
}

std::error_code sqlite_session_store::open()
{
    std::lock_guard lock(mutex_);
    return open_locked();
}

std::error_code sqlite_session_store::open_locked()
{
    if (failed_)
        return error_;
    if (db_)
        return {};
    db_ = std::make_unique<database>();
    auto& d = *db_;
    int rc = sqlite3_open_v2(path_.c_str(), &d.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    auto give_up = [&](int code, const std::string& what) {
        auto ec = fail(code, what);
        db_.reset();
        // A file that is not a store stays untouched; a missing directory or a
        // lock held by another process may be tried again by the next call.
        const int primary = code & 0xff;
        failed_ = primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT;
        return ec;
    };
    if (rc != SQLITE_OK)
        return give_up(rc, "cannot open");
    sqlite3_extended_result_codes(d.db, 1);
    // One client per file: an exclusive lock keeps a second process out (the
    // kernel drops it when the holder dies, so a crash leaves no stale lock).
    if ((rc = d.exec("PRAGMA locking_mode=EXCLUSIVE")) != SQLITE_OK)
        return give_up(rc, "cannot lock");
    sqlite3_busy_timeout(d.db, 2000);
    // The first statement that reads the file: a file that is not a database fails here.
    statement probe;
    if ((rc = probe.prepare(d.db, "PRAGMA application_id")) != SQLITE_OK)
        return give_up(rc, "cannot read");
    rc = sqlite3_step(probe.get());
    if (rc != SQLITE_ROW)
        return give_up(rc, (rc & 0xff) == SQLITE_BUSY ? "in use by another process" : "cannot read");
    const int app = sqlite3_column_int(probe.get(), 0);
    sqlite3_reset(probe.get());

    if ((rc = d.exec("PRAGMA journal_mode=WAL")) != SQLITE_OK)
        return give_up(rc, (rc & 0xff) == SQLITE_BUSY ? "in use by another process" : "cannot switch to WAL");
    const char* sync = options_.sync == sqlite_store_options::sync_mode::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if ((rc = d.exec(sync)) != SQLITE_OK)
        return give_up(rc, "cannot set synchronous");

    if (app == 0) {
        statement tables;
        if ((rc = tables.prepare(d.db, "SELECT count(*) FROM sqlite_master")) != SQLITE_OK || sqlite3_step(tables.get()) != SQLITE_ROW)
            return give_up(rc ? rc : SQLITE_CORRUPT, "cannot read the schema");
        if (sqlite3_column_int(tables.get(), 0) != 0)
            return give_up(SQLITE_NOTADB, "not an MQTT session store (a database with other tables)");
        rc = d.exec("BEGIN IMMEDIATE;"
                    "CREATE TABLE outgoing(seq INTEGER PRIMARY KEY, stage INTEGER NOT NULL, packet_id INTEGER NOT NULL,"
                    " dup INTEGER NOT NULL, message BLOB NOT NULL);"
                    "CREATE TABLE qos2_received(packet_id INTEGER PRIMARY KEY);"
                    "CREATE TABLE snapshot(id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL);"
                    "PRAGMA application_id=1297175379;" // application_id
                    "PRAGMA user_version=1;"
                    "COMMIT;");
        if (rc != SQLITE_OK) {
            d.exec("ROLLBACK");
            return give_up(rc, "cannot create the tables");
        }
        static_assert(application_id == 1297175379);
    } else if (app != application_id) {
        return give_up(SQLITE_NOTADB, "not an MQTT session store (application_id " + std::to_string(app) + ")");
    }

    statement version;
    if ((rc = version.prepare(d.db, "PRAGMA user_version")) != SQLITE_OK || sqlite3_step(version.get()) != SQLITE_ROW)
        return give_up(rc ? rc : SQLITE_CORRUPT, "cannot read the format version");
    if (int v = sqlite3_column_int(version.get(), 0); v != format_version)
        return give_up(SQLITE_CORRUPT, "format version " + std::to_string(v) + " (this library reads " + std::to_string(format_version) + ")");

    struct {
        statement* s;
        const char* sql;
    } statements[] = {
        {&d.begin, "BEGIN IMMEDIATE"},
        {&d.commit, "COMMIT"},
        {&d.rollback, "ROLLBACK"},
        {&d.insert_row, "INSERT INTO outgoing(seq, stage, packet_id, dup, message) VALUES(?, ?, ?, ?, ?)"},
        {&d.update_row, "UPDATE outgoing SET stage = ?, packet_id = ?, dup = ? WHERE seq = ?"},
        {&d.delete_row, "DELETE FROM outgoing WHERE seq = ?"},
        {&d.delete_rows, "DELETE FROM outgoing"},
        {&d.insert_id, "INSERT OR IGNORE INTO qos2_received(packet_id) VALUES(?)"},
        {&d.delete_id, "DELETE FROM qos2_received WHERE packet_id = ?"},
        {&d.delete_ids, "DELETE FROM qos2_received"},
        {&d.put_snapshot, "INSERT OR REPLACE INTO snapshot(id, state) VALUES(1, ?)"},
        {&d.delete_snapshot, "DELETE FROM snapshot"},
    };
    for (auto& [s, sql] : statements)
        if ((rc = s->prepare(d.db, sql)) != SQLITE_OK)
            return give_up(rc, std::string("unexpected schema (") + sql + ")");
    if (auto ec = read_all()) {
        db_.reset();
        failed_ = true;
        return ec;
    }
    return {};
}

// Reads every row into rows_ / qos2_ (what the file holds) and checks each decodes.
std::error_code sqlite_session_store::read_all()
{
    auto& d = *db_;
    statement select;
    int rc = select.prepare(d.db, "SELECT seq, stage, packet_id, dup, message FROM outgoing ORDER BY seq");
    if (rc != SQLITE_OK)
        return fail(rc, "cannot read the messages");
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
        auto* st = select.get();
        const auto seq = sqlite3_column_int64(st, 0);
        const auto stage = sqlite3_column_int64(st, 1);
        const auto id = sqlite3_column_int64(st, 2);
        const auto* blob = static_cast<const char*>(sqlite3_column_blob(st, 4));
        std::string_view bytes(blob ? blob : "", static_cast<std::size_t>(sqlite3_column_bytes(st, 4)));
        auto decoded = decode(bytes, protocol_version::v5);
        const bool ok = stage >= 0 && stage <= 2 && id >= 0 && id <= 65535 && decoded && std::holds_alternative<publish>(*decoded)
            && std::get<publish>(*decoded).qos != qos::at_most_once;
        if (!ok)
            return fail(SQLITE_CORRUPT, "message row " + std::to_string(seq) + " does not decode (corrupt store)");
        row r{seq, {std::get<publish>(std::move(decoded).value()), static_cast<outgoing_stage>(stage)}};
        r.m.msg.packet_id = static_cast<std::uint16_t>(id);
        r.m.msg.dup = sqlite3_column_int64(st, 3) != 0;
        if (r.m.stage == outgoing_stage::awaiting_comp)
            r.m.msg.payload = buffer(); // as in the session: never sent again
        rows_.push_back(std::move(r));
        next_seq_ = seq + 1;
    }
    if (rc != SQLITE_DONE)
        return fail(rc, "cannot read the messages");

    statement ids;
    if ((rc = ids.prepare(d.db, "SELECT packet_id FROM qos2_received ORDER BY packet_id")) != SQLITE_OK)
        return fail(rc, "cannot read the received QoS 2 ids");
    while ((rc = sqlite3_step(ids.get())) == SQLITE_ROW) {
        const auto id = sqlite3_column_int64(ids.get(), 0);
        if (id < 1 || id > 65535)
            return fail(SQLITE_CORRUPT, "received QoS 2 id " + std::to_string(id) + " out of range (corrupt store)");
        qos2_.insert(static_cast<std::uint16_t>(id));
    }
    if (rc != SQLITE_DONE)
        return fail(rc, "cannot read the received QoS 2 ids");

    statement snap;
    if ((rc = snap.prepare(d.db, "SELECT state FROM snapshot WHERE id = 1")) != SQLITE_OK)
        return fail(rc, "cannot read the snapshot");
    if ((rc = sqlite3_step(snap.get())) == SQLITE_ROW) {
        const auto* blob = static_cast<const char*>(sqlite3_column_blob(snap.get(), 0));
        std::string_view bytes(blob ? blob : "", static_cast<std::size_t>(sqlite3_column_bytes(snap.get(), 0)));
        auto state = deserialize_session_state(bytes);
        if (!state)
            return fail(SQLITE_CORRUPT, "the snapshot does not decode (corrupt store)");
        if (!rows_.empty() || !qos2_.empty())
            return fail(SQLITE_CORRUPT, "both message rows and a snapshot (corrupt store)");
        snapshot_ = std::move(*state);
    } else if (rc != SQLITE_DONE) {
        return fail(rc, "cannot read the snapshot");
    }
    return {};
}

result<session_state> sqlite_session_store::load()
{
    std::lock_guard lock(mutex_);
    if (auto ec = open_locked())
        return ec;
    if (snapshot_)
        return *snapshot_;
    session_state s;
    s.outgoing.reserve(rows_.size());
    for (auto& r : rows_)
        s.outgoing.push_back(r.m);
    s.qos2_received.assign(qos2_.begin(), qos2_.end());
    return s;
}

std::error_code sqlite_session_store::save(const session_state& state)
{
    std::lock_guard lock(mutex_);
    if (auto ec = open_locked())
        return ec;
    auto& d = *db_;
    if (int rc = d.begin.run(); rc != SQLITE_OK)
        return fail(rc, "cannot begin a transaction");
    auto ec = options_.snapshot ? save_snapshot(state) : save_rows(state);
    if (!ec) {
        if (int rc = d.commit.run(); rc != SQLITE_OK)
            ec = fail(rc, "cannot commit");
    }
    if (ec) {
        d.rollback.run();
        // What the file holds is unknown to rows_ now: read it again.
        rows_.clear();
        qos2_.clear();
        snapshot_.reset();
        pending_rows_.clear();
        if (auto again = read_all()) {
            db_.reset();
            failed_ = true;
        }
        return ec;
    }
    if (!options_.snapshot) {
        rows_ = std::move(pending_rows_);
        pending_rows_.clear();
        qos2_ = std::move(pending_qos2_);
        snapshot_.reset();
    } else {
        snapshot_ = state;
        rows_.clear();
        qos2_.clear();
    }
    ++saves_;
    return {};
}

// The changes from rows_ / qos2_ to `state`, into pending_rows_ / pending_qos2_.
std::error_code sqlite_session_store::save_rows(const session_state& state)
{
    auto& d = *db_;
    int rc = SQLITE_OK;
    if (snapshot_ && (rc = d.delete_snapshot.run()) != SQLITE_OK)
        return fail(rc, "cannot delete the snapshot");

    pending_rows_.clear();
    pending_rows_.reserve(state.outgoing.size());
    std::string bytes;
    auto insert = [&](const outgoing_message& m) {
        publish p = m.msg;
        p.packet_id = 1; // placeholder: the real id (maybe 0) is a column
        p.dup = false;
        bytes.clear();
        if (auto e = encode(packet(std::move(p)), protocol_version::v5, bytes))
            return SQLITE_OK; // never accepted by the session; nothing to resume
        const auto seq = next_seq_++;
        int r = d.insert_row.run_with_blob(bytes, seq, static_cast<int>(m.stage), m.msg.packet_id, m.msg.dup ? 1 : 0);
        if (r == SQLITE_OK)
            pending_rows_.push_back(row{seq, m});
        return r;
    };

    // The session appends at the end, removes anywhere and changes messages in
    // place: walk both lists in order; what the file has and the state lost is
    // deleted. Whatever matches, the rows end up equal to the state.
    std::size_t j = 0;
    std::size_t i = 0;
    for (; i < state.outgoing.size(); ++i) {
        const auto& m = state.outgoing[i];
        if (m.msg.qos == qos::at_most_once)
            continue;
        std::size_t k = j;
        while (k < rows_.size() && !same_message(rows_[k].m.msg, m))
            ++k;
        if (k == rows_.size())
            break; // new from here on
        for (; j < k; ++j)
            if ((rc = d.delete_row.run(rows_[j].seq)) != SQLITE_OK)
                return fail(rc, "cannot delete a message");
        row r{rows_[k].seq, m};
        if (!same_columns(rows_[k].m, m)
            && (rc = d.update_row.run(static_cast<int>(m.stage), m.msg.packet_id, m.msg.dup ? 1 : 0, r.seq)) != SQLITE_OK)
            return fail(rc, "cannot update a message");
        pending_rows_.push_back(std::move(r));
        j = k + 1;
    }
    for (; j < rows_.size(); ++j)
        if ((rc = d.delete_row.run(rows_[j].seq)) != SQLITE_OK)
            return fail(rc, "cannot delete a message");
    for (; i < state.outgoing.size(); ++i)
        if (state.outgoing[i].msg.qos != qos::at_most_once && (rc = insert(state.outgoing[i])) != SQLITE_OK)
            return fail(rc, "cannot insert a message");

    pending_qos2_ = std::set<std::uint16_t>(state.qos2_received.begin(), state.qos2_received.end());
    for (auto id : qos2_)
        if (!pending_qos2_.count(id) && (rc = d.delete_id.run(id)) != SQLITE_OK)
            return fail(rc, "cannot delete a received QoS 2 id");
    for (auto id : pending_qos2_)
        if (!qos2_.count(id) && (rc = d.insert_id.run(id)) != SQLITE_OK)
            return fail(rc, "cannot insert a received QoS 2 id");
    return {};
}

std::error_code sqlite_session_store::save_snapshot(const session_state& state)
{
    auto& d = *db_;
    int rc = SQLITE_OK;
    if ((!rows_.empty() || !qos2_.empty())
        && ((rc = d.delete_rows.run()) != SQLITE_OK || (rc = d.delete_ids.run()) != SQLITE_OK))
        return fail(rc, "cannot delete the message rows");
    if ((rc = d.put_snapshot.run_with_blob(serialize(state))) != SQLITE_OK)
        return fail(rc, "cannot write the snapshot");
    return {};
}

std::string sqlite_session_store::last_error() const
{
    std::lock_guard lock(mutex_);
    return error_message_;
}

std::size_t sqlite_session_store::save_count() const
{
    std::lock_guard lock(mutex_);
    return saves_;
}

} // namespace mqtt
