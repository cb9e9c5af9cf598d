#pragma once
// Access control from the configuration: anonymous rules and password files per
// listener, and the ACL file. Reloadable (SIGHUP) by swapping in a fresh copy.
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
    // Reads the password and ACL files the configuration names. False and a
    // message ("FILE:LINE: reason") when one cannot be read.
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
    };
    std::vector<per_listener> listeners_;
    std::shared_ptr<acl> acl_; // null: everything allowed
};

} // namespace mqtt::broker
