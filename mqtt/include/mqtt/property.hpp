#pragma once
// MQTT 5.0 properties (spec 2.2.2). A packet's properties are kept in wire order
// so that they round-trip and are forwarded intact; typed getters read them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace mqtt {

enum class packet_type : std::uint8_t;

enum class property_id : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

enum class property_type {
    byte,
    two_byte_integer,
    four_byte_integer,
    variable_byte_integer,
    utf8_string,
    binary_data,
    utf8_string_pair,
};

// nullopt for a byte that is not a property identifier.
std::optional<property_type> type_of(std::uint8_t id) noexcept;
inline property_type type_of(property_id id) noexcept { return *type_of(static_cast<std::uint8_t>(id)); }
std::string_view to_string(property_id id) noexcept;

// Whether `id` may appear in a packet of `type` (will = the Will Properties of CONNECT).
bool property_allowed(property_id id, packet_type type, bool will = false) noexcept;

struct string_pair {
    std::string name;
    std::string value;
    friend bool operator==(const string_pair&, const string_pair&) = default;
};

// Integers (byte, two/four byte, variable byte) are held as uint32; strings and
// binary data as std::string; user properties as string_pair.
using property_value = std::variant<std::uint32_t, std::string, string_pair>;

struct property {
    property_id id;
    property_value value;
    friend bool operator==(const property&, const property&) = default;
};

// The properties of one packet. Most packets carry none, so the list lives behind
// one pointer, allocated at the first property: an empty set costs 8 bytes in every
// packet and queued message instead of a vector's 24.
class properties {
public:
    properties() = default;
    properties(std::initializer_list<property> items)
    {
        if (items.size() != 0)
            items_ = std::make_unique<std::vector<property>>(items);
    }
    properties(const properties& o) : items_(o.copy_items()) {}
    properties(properties&&) noexcept = default;
    properties& operator=(const properties& o)
    {
        if (this != &o)
            items_ = o.copy_items();
        return *this;
    }
    properties& operator=(properties&&) noexcept = default;
    ~properties() = default;

    // Built in place: a moved temporary variant trips GCC 12's -Wmaybe-uninitialized.
    void add(property_id id, std::uint32_t v)
    {
        auto& p = vec().emplace_back();
        p.id = id;
        p.value.emplace<0>(v);
    }
    void add(property_id id, std::string v)
    {
        auto& p = vec().emplace_back();
        p.id = id;
        p.value.emplace<1>(std::move(v));
    }
    void add_user_property(std::string name, std::string value)
    {
        auto& p = vec().emplace_back();
        p.id = property_id::user_property;
        p.value.emplace<2>(string_pair{std::move(name), std::move(value)});
    }
    // Replaces every occurrence of `id` with one property of that value.
    void set(property_id id, std::uint32_t v);
    void set(property_id id, std::string v);
    // Removes every occurrence; returns how many were removed.
    std::size_t remove(property_id id);

    const property* find(property_id id) const noexcept;
    std::optional<std::uint32_t> get_integer(property_id id) const noexcept;
    std::optional<std::string_view> get_string(property_id id) const noexcept;
    std::vector<string_pair> user_properties() const;
    std::vector<std::uint32_t> subscription_identifiers() const;
    bool contains(property_id id) const noexcept { return find(id) != nullptr; }

    bool empty() const noexcept { return !items_ || items_->empty(); }
    std::size_t size() const noexcept { return items_ ? items_->size() : 0; }
    auto begin() const noexcept { return items().begin(); }
    auto end() const noexcept { return items().end(); }
    const std::vector<property>& items() const noexcept { return items_ ? *items_ : no_items(); }
    std::vector<property>& items() { return vec(); }
    void clear() noexcept { items_.reset(); }

    friend bool operator==(const properties& a, const properties& b) { return a.items() == b.items(); }

private:
    static const std::vector<property>& no_items() noexcept;
    std::unique_ptr<std::vector<property>> copy_items() const
    {
        return empty() ? nullptr : std::make_unique<std::vector<property>>(*items_);
    }
    std::vector<property>& vec()
    {
        if (!items_)
            items_ = std::make_unique<std::vector<property>>();
        return *items_;
    }
    std::unique_ptr<std::vector<property>> items_;
};

// Checks the rules of spec 2.2.2: each property allowed in this packet, no
// duplicates except User Property (and Subscription Identifier in PUBLISH), and
// values in range (e.g. Receive Maximum != 0, Maximum QoS 0 or 1). Returns
// protocol_error or malformed_packet as the spec assigns, or an empty code.
std::error_code validate(const properties& props, packet_type type, bool will = false);

} // namespace mqtt
