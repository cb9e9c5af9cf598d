#include "mqtt/broker/access.hpp"

#include <algorithm>
#include <map>

namespace mqtt::broker {

namespace {

// Loads each distinct file once, so listeners naming the same file share one copy.
template <class T>
bool load_shared(const std::string& file, std::map<std::string, std::shared_ptr<T>>& loaded,
    std::shared_ptr<T>& out, std::string& error)
{
    out.reset();
    if (file.empty())
        return true;
    auto& slot = loaded[file];
    if (!slot) {
        auto fresh = std::make_shared<T>();
        if (!T::load(file, *fresh, error))
            return false;
        slot = std::move(fresh);
    }
    out = slot;
    return true;
}

} // namespace

bool config_access_control::load(const broker_config& cfg, std::string& error)
{
    std::map<std::string, std::shared_ptr<password_db>> password_files;
    std::map<std::string, std::shared_ptr<acl>> acl_files;
    listeners_.clear();
    all_acls_.clear();
    auto remember = [this](const std::shared_ptr<acl>& a) {
        if (std::find(all_acls_.begin(), all_acls_.end(), a) == all_acls_.end())
            all_acls_.push_back(a);
    };
    for (auto& l : cfg.listeners) {
        per_listener p;
        p.allow_anonymous = effective_allow_anonymous(cfg, l);
        if (!load_shared(effective_password_file(cfg, l), password_files, p.passwords, error)
            || !load_shared(effective_acl_file(cfg, l), acl_files, p.rules, error))
            return false;
        remember(p.rules);
        listeners_.push_back(std::move(p));
    }
    if (cfg.listeners.empty()) {
        std::shared_ptr<acl> global;
        if (!load_shared(cfg.acl_file, acl_files, global, error))
            return false;
        remember(global);
    }
    return true;
}

void config_access_control::swap(config_access_control& other) noexcept
{
    listeners_.swap(other.listeners_);
    all_acls_.swap(other.all_acls_);
}

reason_code config_access_control::authenticate(const connection_info& info, std::optional<std::string_view> username,
    const std::optional<std::string>& password)
{
    if (info.listener_index >= listeners_.size())
        return reason_code::not_authorized;
    auto& l = listeners_[info.listener_index];
    if (info.use_identity_as_username)
        return info.tls_common_name.empty() ? reason_code::not_authorized : reason_code::success;
    if (!username)
        return l.allow_anonymous ? reason_code::success : reason_code::not_authorized;
    if (l.passwords) {
        if (!password || !l.passwords->check(*username, *password))
            return reason_code::bad_user_name_or_password;
        return reason_code::success;
    }
    // No password file: a user name proves nothing, so it counts as anonymous.
    return l.allow_anonymous ? reason_code::success : reason_code::not_authorized;
}

template <class Check>
bool config_access_control::permitted(const client_identity& who, Check&& check) const
{
    if (who.listener && *who.listener < listeners_.size()) {
        auto& rules = listeners_[*who.listener].rules;
        return !rules || check(*rules);
    }
    // No listener known (or not one of ours): whichever listener the client comes
    // back on, it must not have received what that listener's ACL refuses.
    return std::all_of(all_acls_.begin(), all_acls_.end(), [&](auto& a) { return !a || check(*a); });
}

bool config_access_control::can_publish(const client_identity& who, std::string_view topic)
{
    return permitted(who, [&](const acl& a) { return a.allowed(who.client_id, who.username, topic, acl_access::write); });
}

bool config_access_control::can_subscribe(const client_identity& who, std::string_view filter)
{
    return permitted(who, [&](const acl& a) { return a.can_subscribe(who.client_id, who.username, filter); });
}

bool config_access_control::can_receive(const client_identity& who, std::string_view topic)
{
    return permitted(who, [&](const acl& a) { return a.allowed(who.client_id, who.username, topic, acl_access::read); });
}

} // namespace mqtt::broker
