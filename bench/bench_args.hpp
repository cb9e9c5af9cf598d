#pragma once
// Shared command line of the two client-library publishers, so that both run
// exactly the same workload:  -h HOST -p PORT -q QOS -n COUNT -s BYTES -w WINDOW -V 5|311
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

struct client_bench_args {
    std::string host = "127.0.0.1";
    int port = 1883;
    int qos = 0;
    long count = 100000;
    long size = 64;
    long window = 100; // publishes not yet complete (written for QoS 0, acknowledged for 1/2)
    int version = 5;
    std::string topic = "clientbench/t";
};

inline bool parse_client_bench_args(int argc, char** argv, client_bench_args& a)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* f = argv[i];
        const char* v = argv[i + 1];
        if (std::strcmp(f, "-h") == 0)
            a.host = v;
        else if (std::strcmp(f, "-p") == 0)
            a.port = std::atoi(v);
        else if (std::strcmp(f, "-q") == 0)
            a.qos = std::atoi(v);
        else if (std::strcmp(f, "-n") == 0)
            a.count = std::atol(v);
        else if (std::strcmp(f, "-s") == 0)
            a.size = std::atol(v);
        else if (std::strcmp(f, "-w") == 0)
            a.window = std::atol(v);
        else if (std::strcmp(f, "-V") == 0)
            a.version = std::atoi(v);
        else if (std::strcmp(f, "-t") == 0)
            a.topic = v;
        else
            return false;
    }
    if (argc % 2 == 0)
        return false;
    return a.qos >= 0 && a.qos <= 2 && a.count > 0 && a.size >= 0 && a.window > 0 && (a.version == 5 || a.version == 311);
}

inline double bench_now()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

inline double bench_cpu()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
        + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

inline void print_client_bench_result(const char* lib, const client_bench_args& a, long done, long errors, double elapsed,
    double cpu)
{
    std::printf("RESULT lib=%s qos=%d count=%ld completed=%ld errors=%ld elapsed_s=%.4f msgs_per_s=%.1f cpu_s=%.4f "
                "cpu_us_per_msg=%.3f\n",
        lib, a.qos, a.count, done, errors, elapsed, static_cast<double>(done) / elapsed, cpu,
        cpu * 1e6 / static_cast<double>(done > 0 ? done : 1));
    std::fflush(stdout);
}
