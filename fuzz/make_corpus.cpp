// Writes the seed corpora of the fuzz targets from the codec test vectors
// (tests/core/test_vectors.hpp), in the input formats the targets read:
//   stream_decoder/: [config][chunk][packet bytes]
//   session/:        [config] then steps; a CONNECT/CONNACK handshake, then a vector
//                    received as network bytes, plus a few scripted scenarios.
// Usage: make_corpus <corpus dir>   (replaces the files in its two subfolders)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/codec.hpp"
#include "test_vectors.hpp"

namespace {

namespace fs = std::filesystem;

// Session target: config bits and step bytes (see session_fuzz.cpp).
constexpr std::uint8_t cfg_server = 0x01;
constexpr std::uint8_t cfg_v5 = 0x02;
constexpr std::uint8_t cfg_manual_ack = 0x04;
constexpr std::uint8_t step(unsigned kind, unsigned arg) { return static_cast<std::uint8_t>(kind + 12 * arg); }
enum : unsigned {
    receive_bytes = 0,
    publish = 2,
    subscribe = 3,
    acknowledge = 5,
    timer = 6,
    reconnect = 7,
    peer_answer = 8,
    peer_publish = 9,
    peer_control = 11,
};

class corpus_dir {
public:
    explicit corpus_dir(fs::path dir) : dir_(std::move(dir))
    {
        fs::create_directories(dir_);
        for (const auto& entry : fs::directory_iterator(dir_))
            if (entry.is_regular_file())
                fs::remove(entry.path());
    }

    void write(const std::string& name, const std::string& bytes)
    {
        std::string file = name;
        for (int n = 2; !names_.insert(file).second; ++n)
            file = name + "-" + std::to_string(n);
        std::ofstream out(dir_ / file, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out)
            std::fprintf(stderr, "make_corpus: cannot write %s\n", (dir_ / file).c_str());
    }

    std::size_t count() const noexcept { return names_.size(); }

private:
    fs::path dir_;
    std::set<std::string> names_;
};

std::string file_name(std::string_view name)
{
    std::string out;
    for (char c : name) {
        const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
            || c == '_' || c == '.';
        out += keep ? c : '_';
    }
    return out.empty() ? std::string("vector") : out;
}

std::string encoded(const mqtt::packet& p, mqtt::protocol_version v)
{
    std::string out;
    if (auto ec = mqtt::encode(p, v, out))
        std::fprintf(stderr, "make_corpus: cannot encode a seed packet: %s\n", ec.message().c_str());
    return out;
}

mqtt::connect handshake_connect(mqtt::protocol_version v)
{
    mqtt::connect con;
    con.version = v;
    con.client_id = "fuzz-peer";
    con.keep_alive = 10;
    return con;
}

// Session steps that make the target receive `bytes` (at most 256 per step).
void append_receive(std::string& seed, std::string_view bytes)
{
    while (!bytes.empty()) {
        const auto n = std::min<std::size_t>(bytes.size(), 256);
        seed += static_cast<char>(step(receive_bytes, 0));
        seed += static_cast<char>(n - 1);
        seed += bytes.substr(0, n);
        bytes.remove_prefix(n);
    }
}

void append_steps(std::string& seed, std::initializer_list<std::uint8_t> steps)
{
    for (auto s : steps)
        seed += static_cast<char>(s);
}

bool is_v5(mqtt::protocol_version v) { return v == mqtt::protocol_version::v5; }

// The packet type a vector holds, from its first byte (0 when empty).
unsigned type_of(std::string_view bytes) { return bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]) >> 4; }

void write_stream_decoder_seeds(corpus_dir& dir)
{
    for (const auto& vec : mqtt::test_vectors::all) {
        const std::string bytes(std::begin(vec.bytes), std::end(vec.bytes));
        const mqtt::protocol_version v = vec.version;
        const std::string name = file_name(vec.name);
        // Known version, the whole input in one feed.
        dir.write(name, std::string{static_cast<char>(is_v5(v) ? 1 : 0), 0} + bytes);
        // Version unknown until a CONNECT says, three bytes per feed.
        std::string after_connect{2, 3};
        if (type_of(bytes) != 1)
            after_connect += encoded(handshake_connect(v), v);
        dir.write(name + ".chunked", after_connect + bytes);
    }
}

void write_session_seeds(corpus_dir& dir)
{
    for (const auto& vec : mqtt::test_vectors::all) {
        const std::string bytes(std::begin(vec.bytes), std::end(vec.bytes));
        const mqtt::protocol_version v = vec.version;
        const std::string name = file_name(vec.name);
        const auto type = static_cast<mqtt::packet_type>(type_of(bytes));
        const std::uint8_t version_bit = is_v5(v) ? cfg_v5 : 0;
        const bool to_server = type_of(bytes) != 0 && mqtt::client_may_send(type);
        const bool to_client = type_of(bytes) == 0 || mqtt::server_may_send(type);
        // Then let the peer answer what the session sent and publish once.
        const std::initializer_list<std::uint8_t> tail = {step(peer_answer, 0), step(peer_publish, 1),
            step(publish, 1), step(peer_answer, 0), step(timer, 0)};
        if (to_server) {
            std::string seed{static_cast<char>(cfg_server | version_bit)};
            if (type != mqtt::packet_type::connect)
                append_receive(seed, encoded(handshake_connect(v), v));
            append_receive(seed, bytes);
            append_steps(seed, tail);
            dir.write("server-" + name, seed);
        }
        if (to_client) {
            std::string seed{static_cast<char>(version_bit)};
            if (type != mqtt::packet_type::connack)
                append_receive(seed, encoded(mqtt::connack{}, v));
            append_receive(seed, bytes);
            append_steps(seed, tail);
            dir.write("client-" + name, seed);
        }
    }

    // Scripted scenarios using the peer-model steps only: QoS 1 and 2 both ways,
    // subscriptions, keep alive, a reconnect that resumes the session.
    for (std::uint8_t cfg = 0; cfg < 8; ++cfg) {
        const bool server = (cfg & cfg_server) != 0;
        std::string seed{static_cast<char>(cfg)};
        append_steps(seed, {server ? step(peer_publish, 0) : step(peer_answer, 0), // CONNECT / CONNACK
            step(publish, 1), step(publish, 2), step(peer_answer, 0), step(peer_answer, 0), step(peer_answer, 0),
            step(subscribe, 1), step(peer_answer, 0), step(peer_publish, 1), step(peer_publish, 2),
            step(acknowledge, 0), step(acknowledge, 0), step(peer_answer, 0), step(peer_control, 0),
            step(timer, 0), step(peer_answer, 0), step(publish, 2), step(reconnect, 0),
            server ? step(peer_publish, 0) : step(peer_answer, 1), step(peer_answer, 0), step(peer_answer, 0),
            step(peer_control, 1)});
        dir.write("scenario-" + std::string(server ? "server" : "client") + (cfg & cfg_v5 ? "-v5" : "-v311")
                + (cfg & cfg_manual_ack ? "-manual-ack" : ""),
            seed);
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus <corpus dir>\n");
        return 2;
    }
    const fs::path root = argv[1];
    corpus_dir stream(root / "stream_decoder");
    write_stream_decoder_seeds(stream);
    corpus_dir session(root / "session");
    write_session_seeds(session);
    std::printf("make_corpus: %zu stream_decoder seeds, %zu session seeds in %s\n", stream.count(), session.count(),
        root.c_str());
    return 0;
}
