#pragma once
// Access control from the configuration: anonymous rules, password files and ACL
// files per listener. Reloadable (SIGHUP) by swapping in a fresh copy.
//
// Which ACL applies to a client: the effective acl_file of the listener it is
// connected to, or was last connected to while offline (effective_acl_file: its
// own with per_listener_settings true, otherwise the global one; none = all
// allowed). A session loaded from the store that has not reconnected has no known
// listener: it is allowed only what the ACL of every listener allows.
#include <memory>
#include <string>
#include <vector>

#include "mqtt/broker/acl.hpp"
#include "mqtt/broker/config.hpp"
#include "mqtt/broker/engine.hpp"
#include "mqtt/broker/password_file.hpp"

namespace mqtt::broker {

class config_access_control : public access_control {
public:
    // Reads the password and ACL files the configuration names (each distinct
    // file once). False and a message ("FILE:LINE: reason") when one cannot be read.
    bool load(const broker_config& cfg, std::string& error);
    void swap(config_access_control& other) noexcept;

    reason_code authenticate(const connection_info& info, std::optional<std::string_view> username,
        const std::optional<std::string>& password) override;
    bool can_publish(const client_identity& who, std::string_view topic) override;
    bool can_subscribe(const client_identity& who, std::string_view filter) override;
    bool can_receive(const client_identity& who, std::string_view topic) override;

private:
    struct per_listener {
        bool allow_anonymous = false;
        std::shared_ptr<password_db> passwords; // null: no password file
        std::shared_ptr<acl> rules;             // null: everything allowed
    };
    // True when the ACL(s) that apply to `who` all say yes (see the top of the file).
    template <class Check>
    bool permitted(const client_identity& who, Check&& check) const;

    std::vector<per_listener> listeners_;
    // Each listener's ACL once (null among them when a listener has none); without
    // listeners, the global one. For identities without a listener.
    std::vector<std::shared_ptr<acl>> all_acls_;
};

} // namespace mqtt::broker
