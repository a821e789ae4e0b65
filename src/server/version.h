#pragma once
// The version warrend reports (--version, AMQP server-properties, HTTP).
namespace warren::server {
inline constexpr const char* version = "0.1.0";
}
