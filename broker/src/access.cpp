#include "mqtt/broker/access.hpp"

#include <map>

namespace mqtt::broker {

bool config_access_control::load(const broker_config& cfg, std::string& error)
{
    std::map<std::string, std::shared_ptr<password_db>> files; // one copy per distinct file
    listeners_.clear();
    for (auto& l : cfg.listeners) {
        per_listener p;
        p.allow_anonymous = effective_allow_anonymous(cfg, l);
        auto& file = effective_password_file(cfg, l);
        if (!file.empty()) {
            auto& db = files[file];
            if (!db) {
                db = std::make_shared<password_db>();
                if (!password_db::load(file, *db, error))
                    return false;
            }
            p.passwords = db;
        }
        listeners_.push_back(std::move(p));
    }
    acl_.reset();
    // One ACL applies to every client (the access checks do not know the listener).
    // Listeners naming different ACL files would silently share the first one, so
    // that configuration is refused instead of leaving a listener unprotected.
    std::string acl_file = cfg.acl_file;
    if (!cfg.listeners.empty()) {
        acl_file = effective_acl_file(cfg, cfg.listeners.front());
        for (auto& l : cfg.listeners)
            if (effective_acl_file(cfg, l) != acl_file) {
                error = l.origin + ": listeners with different acl_file settings are not supported; "
                                   "write one acl_file before the first listener";
                return false;
            }
    }
    if (!acl_file.empty()) {
        auto a = std::make_shared<acl>();
        if (!acl::load(acl_file, *a, error))
            return false;
        acl_ = std::move(a);
    }
    return true;
}

void config_access_control::swap(config_access_control& other) noexcept
{
    listeners_.swap(other.listeners_);
    acl_.swap(other.acl_);
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

bool config_access_control::can_publish(const client_identity& who, std::string_view topic)
{
    return !acl_ || acl_->allowed(who.client_id, who.username, topic, acl_access::write);
}

bool config_access_control::can_subscribe(const client_identity& who, std::string_view filter)
{
    return !acl_ || acl_->can_subscribe(who.client_id, who.username, filter);
}

bool config_access_control::can_receive(const client_identity& who, std::string_view topic)
{
    return !acl_ || acl_->allowed(who.client_id, who.username, topic, acl_access::read);
}

} // namespace mqtt::broker
