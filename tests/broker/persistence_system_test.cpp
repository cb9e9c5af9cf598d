// The real mqtt-broker with persistence on: a PUBACK survives SIGKILL; a corrupt
// store stops start-up with a message naming the file, --move-corrupt-store
// moves it aside. Talks MQTT over loopback with the core's codec.
#include <catch2/catch.hpp>

#ifdef MQTT_BROKER_EXECUTABLE

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "engine_harness.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

extern char** environ;

using namespace mqtt;
using mqtt::broker::test::temp_dir;

namespace {

std::uint16_t free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

int dial(std::uint16_t port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{5, 0}; // every read is bounded
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

std::string slurp(const std::string& path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct broker_process {
    pid_t pid = -1;
    std::uint16_t port = 0;

    // Starts the broker; true once its port accepts connections.
    bool start(const std::string& config, const std::string& log, std::uint16_t p, bool move_corrupt = false)
    {
        port = p;
        std::vector<std::string> args{MQTT_BROKER_EXECUTABLE, "-c", config};
        if (move_corrupt)
            args.push_back("--move-corrupt-store");
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0)
            return false;
        for (int i = 0; i < 400; ++i) { // readiness wait, not a timing assertion
            int fd = dial(port);
            if (fd >= 0) {
                ::close(fd);
                return true;
            }
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                pid = -1;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        return false;
    }

    void stop(int sig)
    {
        if (pid <= 0)
            return;
        ::kill(pid, sig);
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
    }

    ~broker_process() { stop(SIGKILL); }
    int exit_code = 0;
};

// A blocking MQTT 5.0 client for the test.
struct raw_client {
    int fd = -1;
    stream_decoder decoder{max_packet_size, protocol_version::v5};

    explicit raw_client(std::uint16_t port) : fd(dial(port)) {}
    ~raw_client()
    {
        if (fd >= 0)
            ::close(fd);
    }

    bool send(const packet& p)
    {
        std::string bytes;
        if (encode(p, protocol_version::v5, bytes))
            return false;
        return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }

    // The next packet, or nullopt on timeout / close.
    std::optional<packet> next()
    {
        for (;;) {
            if (auto p = decoder.next()) {
                if (!*p)
                    return std::nullopt;
                return std::move(p->value());
            }
            char buf[4096];
            auto n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return std::nullopt;
            decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        }
    }

    template <class T>
    std::optional<T> next_of()
    {
        for (int i = 0; i < 20; ++i) {
            auto p = next();
            if (!p)
                return std::nullopt;
            if (auto* x = std::get_if<T>(&*p))
                return std::move(*x);
        }
        return std::nullopt;
    }

    bool connect(const std::string& id, bool clean, std::uint32_t expiry)
    {
        mqtt::connect c;
        c.version = protocol_version::v5;
        c.client_id = id;
        c.clean_start = clean;
        c.keep_alive = 0;
        c.props.add(property_id::session_expiry_interval, expiry);
        if (fd < 0 || !send(c))
            return false;
        auto ack = next_of<connack>();
        return ack && ack->code == reason_code::success;
    }
};

} // namespace

TEST_CASE("mqtt-broker with persistence: a PUBACKed message survives SIGKILL, a corrupt store is refused naming the "
          "file and moved aside on request",
    "[persistence][system]")
{
    temp_dir dir;
    const auto port = free_port();
    REQUIRE(port != 0);
    const auto config = dir.file("broker.conf");
    const auto log = dir.file("broker.log");
    const auto db = dir.file("data/mqtt-broker.db");
    {
        std::ofstream f(config);
        f << "listener " << port << " 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location "
          << dir.file("data") << "\n";
    }
    broker_process broker;
    auto start = [&](bool move_corrupt = false) {
        if (!broker.start(config, log, port, move_corrupt))
            FAIL("mqtt-broker did not start; its log:\n" << slurp(log));
    };
    start();
    {
        raw_client sub(port);
        REQUIRE(sub.connect("sys-sub", false, 3600));
        REQUIRE(sub.send(mqtt::subscribe{1, {{"durable/t", {qos::at_least_once}}}, {}}));
        REQUIRE(sub.next_of<suback>());
        REQUIRE(sub.send(mqtt::disconnect{}));
    }
    {
        raw_client pub(port);
        REQUIRE(pub.connect("sys-pub", true, 0));
        mqtt::publish p;
        p.topic = buffer("durable/t");
        p.payload = buffer("kept across SIGKILL");
        p.qos = qos::at_least_once;
        p.packet_id = 1;
        REQUIRE(pub.send(p));
        REQUIRE(pub.next_of<puback>());
    }
    broker.stop(SIGKILL); // no chance to save anything now
    start();
    {
        raw_client sub(port);
        REQUIRE(sub.connect("sys-sub", false, 3600));
        auto got = sub.next_of<mqtt::publish>();
        REQUIRE(got);
        CHECK(got->payload == "kept across SIGKILL");
    }
    broker.stop(SIGKILL);

    // Damage the store: start-up fails with a message naming it.
    for (auto suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix);
    {
        std::ofstream f(db, std::ios::binary);
        for (int i = 0; i < 200; ++i)
            f << "not a database at all ";
    }
    CHECK_FALSE(broker.start(config, log, port));
    CHECK(broker.exit_code == 1);
    CHECK_THAT(slurp(log), Catch::Contains(db) && Catch::Contains("--move-corrupt-store"));

    start(true);
    bool moved = false;
    for (auto& e : std::filesystem::directory_iterator(dir.file("data")))
        moved |= e.path().filename().string().starts_with("mqtt-broker.db.corrupt-");
    CHECK(moved);
    broker.stop(SIGTERM);
}

#endif
