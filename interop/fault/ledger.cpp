#include "ledger.hpp"

#include <cstdio>
#include <sstream>

namespace fault {

std::string make_payload(const message_key& k)
{
    // Padding makes packets long enough for cuts to fall inside them.
    return "p" + std::to_string(k.publisher) + " q" + std::to_string(k.qos) + " s" + std::to_string(k.seq)
        + " ................................";
}

std::optional<message_key> parse_payload(std::string_view payload)
{
    message_key k;
    unsigned long seq = 0;
    std::string text(payload);
    if (std::sscanf(text.c_str(), "p%d q%d s%lu", &k.publisher, &k.qos, &seq) != 3)
        return std::nullopt;
    k.seq = static_cast<std::uint32_t>(seq);
    return k;
}

std::string topic_for(int publisher, int qos)
{
    return "fault/p" + std::to_string(publisher) + "/q" + std::to_string(qos);
}

void ledger::sent(const message_key& k)
{
    std::lock_guard lock(mutex_);
    sent_[{k.publisher, k.qos}].insert(k.seq);
}

void ledger::acked(const message_key& k)
{
    std::lock_guard lock(mutex_);
    acked_[{k.publisher, k.qos}].insert(k.seq);
}

void ledger::failed(const message_key& k)
{
    std::lock_guard lock(mutex_);
    ++failed_[{k.publisher, k.qos}];
}

void ledger::received(int subscriber, const message_key& k)
{
    std::lock_guard lock(mutex_);
    if (subscriber >= 0 && static_cast<std::size_t>(subscriber) < received_.size())
        received_[static_cast<std::size_t>(subscriber)][{k.publisher, k.qos}].push_back(k.seq);
}

bool ledger::complete() const
{
    std::lock_guard lock(mutex_);
    for (auto& sub : received_) {
        for (auto& [stream, seqs] : acked_) {
            auto it = sub.find(stream);
            if (it == sub.end()) {
                if (!seqs.empty())
                    return false;
                continue;
            }
            std::set<std::uint32_t> got(it->second.begin(), it->second.end());
            for (auto s : seqs)
                if (!got.count(s))
                    return false;
        }
    }
    return true;
}

std::uint64_t ledger::acked_count() const
{
    std::lock_guard lock(mutex_);
    std::uint64_t n = 0;
    for (auto& [s, seqs] : acked_)
        n += seqs.size();
    return n;
}

std::uint64_t ledger::settled_count() const
{
    std::uint64_t n = acked_count();
    std::lock_guard lock(mutex_);
    for (auto& [s, count] : failed_)
        n += count;
    return n;
}

figures ledger::count(int qos) const
{
    std::lock_guard lock(mutex_);
    figures f;
    for (auto& [s, seqs] : sent_)
        f.sent += s.second == qos ? seqs.size() : 0;
    for (auto& [s, n] : failed_)
        f.failed += s.second == qos ? n : 0;
    for (auto& [s, seqs] : acked_)
        f.acked += s.second == qos ? seqs.size() : 0;
    for (auto& sub : received_) {
        for (auto& [stream, seqs] : sub) {
            if (stream.second != qos)
                continue;
            f.deliveries += seqs.size();
            std::map<std::uint32_t, int> times;
            bool any = false;
            std::uint32_t last = 0;
            for (auto s : seqs) {
                bool first = ++times[s] == 1;
                if (!first)
                    ++f.duplicated;
                // QoS 2: every delivery after the last; QoS 1: every first delivery.
                if (qos == 2 || first) {
                    if (any && s <= last)
                        ++f.reordered;
                    if (!any || s > last)
                        last = s;
                    any = true;
                }
            }
            auto acked = acked_.find(stream);
            if (acked != acked_.end())
                for (auto s : acked->second)
                    f.lost += times.count(s) ? 0u : 1u;
            if (auto sent = sent_.find(stream); sent != sent_.end())
                for (auto s : sent->second)
                    f.unacked_lost += !times.count(s) && (acked == acked_.end() || !acked->second.count(s)) ? 1u : 0u;
        }
        // Streams this subscriber never heard of at all.
        for (auto& [stream, seqs] : acked_)
            if (stream.second == qos && !sub.count(stream))
                f.lost += seqs.size();
        for (auto& [stream, seqs] : sent_)
            if (stream.second == qos && !sub.count(stream)) {
                auto acked = acked_.find(stream);
                for (auto s : seqs)
                    f.unacked_lost += acked == acked_.end() || !acked->second.count(s) ? 1u : 0u;
            }
    }
    return f;
}

std::string ledger::sample(int qos, std::size_t max) const
{
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    std::size_t shown = 0;
    for (std::size_t i = 0; i < received_.size(); ++i) {
        for (auto& [stream, seqs] : acked_) {
            if (stream.second != qos)
                continue;
            std::map<std::uint32_t, int> times;
            if (auto it = received_[i].find(stream); it != received_[i].end())
                for (auto s : it->second)
                    ++times[s];
            for (auto s : seqs) {
                auto n = times.count(s) ? times[s] : 0;
                if (n != 1 && (n == 0 || qos == 2) && shown++ < max)
                    out << " sub" << i << ":p" << stream.first << "/s" << s << (n == 0 ? " lost" : " x" + std::to_string(n));
            }
        }
    }
    return out.str();
}

void print_table(const std::vector<table_row>& rows)
{
    std::printf("\n%-22s %-12s %-5s %-3s %8s %8s %6s %6s %6s %8s %6s %6s %9s %12s  %s\n", "scenario", "broker", "mqtt",
        "qos", "sent", "acked", "failed", "cuts", "kills", "received", "lost", "dup", "reordered", "unacked-lost", "note");
    for (auto& r : rows) {
        std::printf("%-22s %-12s %-5s %-3d %8llu %8llu %6llu %6llu %6llu %8llu %6llu %6llu %9llu %12llu  %s\n",
            r.scenario.c_str(), r.broker.c_str(), r.version.c_str(), r.qos, static_cast<unsigned long long>(r.f.sent),
            static_cast<unsigned long long>(r.f.acked), static_cast<unsigned long long>(r.f.failed),
            static_cast<unsigned long long>(r.cuts), static_cast<unsigned long long>(r.kills),
            static_cast<unsigned long long>(r.f.deliveries), static_cast<unsigned long long>(r.f.lost),
            static_cast<unsigned long long>(r.f.duplicated), static_cast<unsigned long long>(r.f.reordered),
            static_cast<unsigned long long>(r.f.unacked_lost), r.note.c_str());
    }
    std::fflush(stdout);
}

} // namespace fault
